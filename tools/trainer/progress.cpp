#include "tools/trainer/progress.h"

#include <unistd.h>

#include <cmath>

#include "tools/trainer/errors.h"

namespace slab::tools {

ProgressMode parse_progress_mode(const std::string& text) {
  if (text == "bar") return ProgressMode::Bar;
  if (text == "lines") return ProgressMode::Lines;
  if (text == "none") return ProgressMode::None;
  SLAB_USAGE_CHECK(text == "auto", "--progress: expected auto, bar, lines or none, got '", text, "'");
  return isatty(STDOUT_FILENO) ? ProgressMode::Bar : ProgressMode::Lines;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t total = static_cast<int64_t>(std::llround(seconds));
  char text[32];
  if (total >= 3600)
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                  static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  else
    std::snprintf(text, sizeof text, "%lld:%02lld", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  return text;
}

Progress::Progress(ProgressMode mode, int64_t epochs, int64_t batches_per_epoch, std::FILE* out)
    : mode_(mode), epochs_(epochs), batches_(batches_per_epoch), out_(out) {}

void Progress::update(int64_t epoch, int64_t done, double loss, double accuracy, double images_per_second,
                      double seconds_left) {
  if (mode_ == ProgressMode::None) return;
  if (mode_ == ProgressMode::Lines) {
    // A line at each tenth of the epoch (not at its end: the epoch line follows).
    if (!prints_line_at(done)) return;
    std::fprintf(out_, "  epoch %lld/%lld batch %lld/%lld  loss %.4f  acc %.2f%%  %.0f img/s  %s left\n",
                 static_cast<long long>(epoch + 1), static_cast<long long>(epochs_), static_cast<long long>(done),
                 static_cast<long long>(batches_), loss, 100 * accuracy, images_per_second,
                 format_duration(seconds_left).c_str());
    std::fflush(out_);
    return;
  }
  // Bar: redraw at most 10 times a second, and always at the last batch.
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && done != batches_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(1, batches_));
  char bar[kWidth + 1];
  for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '.';
  bar[kWidth] = '\0';
  std::fprintf(out_, "\r\x1b[Kepoch %lld/%lld [%s] %lld/%lld  loss %.4f  acc %.2f%%  %.0f img/s  %s left",
               static_cast<long long>(epoch + 1), static_cast<long long>(epochs_), bar, static_cast<long long>(done),
               static_cast<long long>(batches_), loss, 100 * accuracy, images_per_second,
               format_duration(seconds_left).c_str());
  std::fflush(out_);
  drawn_ = true;
}

bool Progress::prints_line_at(int64_t done) const {
  const int64_t tenth = std::max<int64_t>(1, batches_ / 10);
  return mode_ == ProgressMode::Lines && done % tenth == 0 && done != batches_;
}

void Progress::clear() {
  if (mode_ == ProgressMode::Bar && drawn_) {
    std::fprintf(out_, "\r\x1b[K");
    std::fflush(out_);
  }
  drawn_ = false;
}

}  // namespace slab::tools
