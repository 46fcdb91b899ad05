// The training programs' progress display: on a terminal (isatty) one line redrawn in
// place with a bar, the running loss and accuracy, images/s and the time left; otherwise
// (a log file, a pipe, a test) a plain line at every tenth of an epoch. The epoch's own
// summary line is printed by the loop either way.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace slab::tools {

enum class ProgressMode { Bar, Lines, None };

// "auto" picks Bar when stdout is a terminal, Lines otherwise.
ProgressMode parse_progress_mode(const std::string& text);

// "1:23:45" or "4:05".
std::string format_duration(double seconds);

class Progress {
 public:
  Progress(ProgressMode mode, int64_t epochs, int64_t batches_per_epoch, std::FILE* out = stdout);

  // `done` batches of the epoch are finished (1-based count), with the epoch's running
  // loss and accuracy, its images/s, and the estimated seconds left in the whole run.
  void update(int64_t epoch, int64_t done, double loss, double accuracy, double images_per_second,
              double seconds_left);
  // Erases the bar (before the epoch line is printed).
  void clear();
  // True when update(epoch, done, ...) would print a line (the line mode, at each tenth of
  // the epoch but its end): a loop that updates the display only now and then (the GPU's
  // deferred reads) makes sure to update it there.
  bool prints_line_at(int64_t done) const;

 private:
  ProgressMode mode_;
  int64_t epochs_, batches_;
  std::FILE* out_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace slab::tools
