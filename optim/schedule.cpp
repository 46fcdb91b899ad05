#include "optim/schedule.h"

#include <cmath>
#include <numbers>
#include <sstream>

#include "core/error.h"

namespace slab {

double constant_lr(double base) { return base; }

double step_lr(double base, int64_t t, int64_t step_size, double gamma) {
  SLAB_CHECK(step_size > 0, "step schedule: step_size must be positive, got ", step_size);
  SLAB_CHECK(t >= 0, "step schedule: step index must be non-negative, got ", t);
  return base * std::pow(gamma, static_cast<double>(t / step_size));
}

double cosine_annealing_lr(double base, int64_t t, int64_t t_max, double eta_min) {
  SLAB_CHECK(t_max > 0, "cosine schedule: T_max must be positive, got ", t_max);
  SLAB_CHECK(t >= 0, "cosine schedule: step index must be non-negative, got ", t);
  return eta_min + (base - eta_min) *
                       (1.0 + std::cos(std::numbers::pi * static_cast<double>(t) / static_cast<double>(t_max))) / 2.0;
}

int64_t cyclical_cycle_length(int64_t total_iterations, int64_t cycles) {
  SLAB_CHECK(total_iterations > 0, "cyclical cosine schedule: total iterations K must be positive, got ",
             total_iterations);
  SLAB_CHECK(cycles > 0 && cycles <= total_iterations,
             "cyclical cosine schedule: cycles M must lie in [1, K = ", total_iterations, "], got ", cycles);
  return (total_iterations + cycles - 1) / cycles;
}

double cyclical_cosine_lr(double base, int64_t r, int64_t total_iterations, int64_t cycles) {
  const int64_t length = cyclical_cycle_length(total_iterations, cycles);
  SLAB_CHECK(r >= 0, "cyclical cosine schedule: iteration must be non-negative, got ", r);
  const double phase = static_cast<double>(r % length) / static_cast<double>(length);
  return base / 2.0 * (std::cos(std::numbers::pi * phase) + 1.0);
}

double linear_warmup_factor(int64_t t, int64_t warmup_steps, double start_factor) {
  SLAB_CHECK(warmup_steps >= 0, "linear warm-up: warm-up steps must be non-negative, got ", warmup_steps);
  SLAB_CHECK(start_factor > 0 && start_factor <= 1, "linear warm-up: start factor must lie in (0, 1], got ",
             start_factor);
  SLAB_CHECK(t >= 0, "linear warm-up: step index must be non-negative, got ", t);
  if (warmup_steps == 0 || t >= warmup_steps) return 1.0;
  return start_factor + (1.0 - start_factor) * static_cast<double>(t) / static_cast<double>(warmup_steps);
}

StepSchedule::StepSchedule(double base, int64_t step_size, double gamma)
    : base_(base), step_size_(step_size), gamma_(gamma) {
  SLAB_CHECK(step_size > 0, "step schedule: step_size must be positive, got ", step_size);
}

CosineSchedule::CosineSchedule(double base, int64_t t_max, double eta_min)
    : base_(base), t_max_(t_max), eta_min_(eta_min) {
  SLAB_CHECK(t_max > 0, "cosine schedule: T_max must be positive, got ", t_max);
}

CyclicalCosineSchedule::CyclicalCosineSchedule(double base, int64_t total_iterations, int64_t cycles)
    : base_(base), total_iterations_(total_iterations), cycles_(cycles) {
  cyclical_cycle_length(total_iterations, cycles);  // validates K and M
}

LinearWarmupSchedule::LinearWarmupSchedule(std::shared_ptr<const Schedule> inner, int64_t warmup_steps,
                                           double start_factor)
    : inner_(std::move(inner)), warmup_steps_(warmup_steps), start_factor_(start_factor) {
  SLAB_CHECK(inner_ != nullptr, "linear warm-up: no schedule to wrap");
  linear_warmup_factor(0, warmup_steps, start_factor);  // validates the arguments
}

namespace {
template <typename... Parts>
std::string text(const Parts&... parts) {
  std::ostringstream out;
  out.precision(6);
  (out << ... << parts);
  return out.str();
}
}  // namespace

std::string ConstantSchedule::describe() const { return text("constant lr ", base_); }
std::string StepSchedule::describe() const { return text("step lr ", base_, ", x", gamma_, " every ", step_size_); }
std::string CosineSchedule::describe() const {
  return text("cosine lr ", base_, " -> ", eta_min_, " over T_max = ", t_max_);
}
std::string CyclicalCosineSchedule::describe() const {
  return text("cyclical cosine C0^2 = ", base_, ", K = ", total_iterations_, " iterations, M = ", cycles_,
              " cycles of L = ", cycle_length());
}
std::string LinearWarmupSchedule::describe() const {
  return text(inner_->describe(), ", linear warm-up over ", warmup_steps_, " from x", start_factor_);
}

}  // namespace slab
