#include "tools/trainer/epoch_report.h"

#include <algorithm>
#include <cstdio>

namespace slab::tools {

nlohmann::ordered_json epoch_record(const EpochOutcome& o) {
  nlohmann::ordered_json record;
  record["epoch"] = o.epoch + 1;
  record["step"] = o.step;
  record["lr"] = o.lr;
  record["train_loss"] = o.train.loss();
  record["train_acc"] = o.train.accuracy();
  record["test_loss"] = o.test.nll;
  record["test_acc"] = o.test.accuracy;
  record["test_ece"] = o.test.ece;
  record["seconds"] = o.train_seconds + o.eval_seconds;
  record["images_per_s"] = static_cast<double>(o.train.seen) / std::max(o.train_seconds, 1e-9);
  return record;
}

std::string add_prior_fields(nlohmann::ordered_json& record, const SparsityReport& sparsity,
                             const std::optional<PriorPassReport>& pass, const SpikeSlabPrior& prior, int64_t epoch) {
  record["sparsity"] = sparsity.sparsity();
  record["flops_kept"] = sparsity.flops_kept();
  record["prior_pass"] = pass.has_value();
  char text[384];
  if (pass) {
    record["spike_groups"] = pass->spike_groups;
    record["groups"] = pass->groups;
    record["pruned_units"] = pass->pruned_units;
    record["prunable_units"] = pass->prunable_units;
    char budget[96] = "";
    if (prior.options().has_mac_budget()) {
      record["slab_mac_fraction"] = pass->slab_mac_fraction;
      record["mac_shift"] = pass->mac_shift;
      std::snprintf(budget, sizeof budget, "; the slab's groups hold %.1f%% of the dense MACs, shift %.3g",
                    100.0 * pass->slab_mac_fraction, pass->mac_shift);
    }
    std::snprintf(text, sizeof text, " (E-step: %lld of %lld groups in the spike%s; %lld of %lld units pruned)",
                  static_cast<long long>(pass->spike_groups), static_cast<long long>(pass->groups), budget,
                  static_cast<long long>(pass->pruned_units), static_cast<long long>(pass->prunable_units));
  } else if (prior.in_cool_down(epoch)) {
    std::snprintf(text, sizeof text, " (cool-down from epoch %lld: no E-step, every weight in the slab, masks frozen)",
                  static_cast<long long>(prior.first_cool_down_epoch() + 1));
  } else {
    std::snprintf(text, sizeof text, " (no E-step yet: epoch %lld <= warm-up %lld)", static_cast<long long>(epoch),
                  static_cast<long long>(prior.options().warm_up));
  }
  return "\n  " + sparsity.summary() + text;
}

std::string epoch_line(const EpochOutcome& o, int64_t epochs, const std::string& extra) {
  char line[512];
  std::snprintf(line, sizeof line,
                "epoch %lld/%lld  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  lr %.4g  %.1f s (%.0f img/s)",
                static_cast<long long>(o.epoch + 1), static_cast<long long>(epochs), o.train.loss(),
                100 * o.train.accuracy(), o.test.nll, 100 * o.test.accuracy, o.lr, o.train_seconds + o.eval_seconds,
                static_cast<double>(o.train.seen) / std::max(o.train_seconds, 1e-9));
  return line + extra + "\n";
}

}  // namespace slab::tools
