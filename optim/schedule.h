// Learning-rate schedules as pure functions of the step index t (an iteration or an
// epoch, as the caller counts; from 0). Each is also a Schedule object so a program can
// hold "the schedule" without knowing which; lr(t) has no state, so a resumed run only
// needs t.
//
//   constant:        lr(t) = base
//   step:            lr(t) = base gamma^floor(t / step_size)                  (PyTorch StepLR)
//   cosine:          lr(t) = eta_min + (base - eta_min) (1 + cos(pi t / T_max)) / 2
//                    (PyTorch CosineAnnealingLR; its closed form, which its recursive
//                    update follows, also past T_max where the cosine rises again)
//   cyclical cosine: lr(r) = base / 2 (cos(pi (r mod L) / L) + 1), L = ceil(K / M)
//                    (docs/algorithm.md#cyclical-schedule: K total iterations, M cycles; base
//                    = C0^2, lr = C^2. The reference's floor(K/M) and one-epoch-late r are not
//                    reproduced.)
//   linear warm-up:  lr(t) = inner(t) (s + (1 - s) min(t, W) / W)
//                    (the factor of PyTorch LinearLR(start_factor = s, total_iters = W))
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace slab {

double constant_lr(double base);
double step_lr(double base, int64_t t, int64_t step_size, double gamma);
double cosine_annealing_lr(double base, int64_t t, int64_t t_max, double eta_min = 0.0);
double cyclical_cosine_lr(double base, int64_t r, int64_t total_iterations, int64_t cycles);
// L = ceil(K / M), the iterations per cycle.
int64_t cyclical_cycle_length(int64_t total_iterations, int64_t cycles);
// The factor s + (1 - s) min(t, W) / W (1 for W = 0).
double linear_warmup_factor(int64_t t, int64_t warmup_steps, double start_factor);

class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual double lr(int64_t t) const = 0;
  virtual std::string describe() const = 0;  // one line for a program's configuration print
};

class ConstantSchedule : public Schedule {
 public:
  explicit ConstantSchedule(double base) : base_(base) {}
  double lr(int64_t) const override { return constant_lr(base_); }
  std::string describe() const override;

 private:
  double base_;
};

class StepSchedule : public Schedule {
 public:
  StepSchedule(double base, int64_t step_size, double gamma);
  double lr(int64_t t) const override { return step_lr(base_, t, step_size_, gamma_); }
  std::string describe() const override;

 private:
  double base_;
  int64_t step_size_;
  double gamma_;
};

class CosineSchedule : public Schedule {
 public:
  CosineSchedule(double base, int64_t t_max, double eta_min = 0.0);
  double lr(int64_t t) const override { return cosine_annealing_lr(base_, t, t_max_, eta_min_); }
  std::string describe() const override;

 private:
  double base_;
  int64_t t_max_;
  double eta_min_;
};

class CyclicalCosineSchedule : public Schedule {
 public:
  CyclicalCosineSchedule(double base, int64_t total_iterations, int64_t cycles);
  double lr(int64_t r) const override { return cyclical_cosine_lr(base_, r, total_iterations_, cycles_); }
  std::string describe() const override;
  int64_t cycle_length() const { return cyclical_cycle_length(total_iterations_, cycles_); }

 private:
  double base_;
  int64_t total_iterations_;
  int64_t cycles_;
};

// Multiplies another schedule by the linear warm-up factor.
class LinearWarmupSchedule : public Schedule {
 public:
  LinearWarmupSchedule(std::shared_ptr<const Schedule> inner, int64_t warmup_steps, double start_factor);
  double lr(int64_t t) const override { return inner_->lr(t) * linear_warmup_factor(t, warmup_steps_, start_factor_); }
  std::string describe() const override;

 private:
  std::shared_ptr<const Schedule> inner_;
  int64_t warmup_steps_;
  double start_factor_;
};

}  // namespace slab
