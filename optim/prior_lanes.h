// The sixteen-lane view of a PriorState (optim/prior_state.h) that the CPU's fused sampler
// step reads: the weight decay and the keep factor of sixteen consecutive elements as two
// AVX-512 vectors, built in registers from the per-group values, so the step writes no
// per-element arrays for the tensors that hold nearly all the weights.
//
// Three forms, chosen per chunk of elements [first, first + count):
//   Uniform      no groups and no masks: every lane is (weight_decay, 1).
//   KernelGroups a conv-kernels parameter ([out, in, kh, kw], inner = kh kw) with group
//                decays or masks. Its map (PriorGroupMap, optim/prior_group_map.h) puts
//                element e in the group of its kernel slice, group_of(row_of(s), column_of(s))
//                = s for s = slice_of(e) = e / inner. The lanes apply slice_of per lane:
//                lane l of the sixteen from element e0 is in slice (e0 + l) / inner
//                = g0 + idx[l], g0 = slice_of(e0), idx[l] = (e0 - g0 inner + l) / inner
//                (vector form below), so the lanes span groups g0 .. g0 + 15 at most: one
//                masked load of sixteen group values and one vpermps. The keep of group g
//                is keep_rows[row_of(g)] keep_columns[column_of(g)], formed once per group of
//                the chunk (a few dozen per chunk of 256 for 3x3).
//   Arrays       anything else (linear columns, masked 1-D tensors; a few thousand weights in
//                the models here): expand_prior_state's per-element arrays, loaded.
// The values are those expand_prior_state gives, exactly (tests/test_sghmc.cpp checks the
// whole step against the per-element scalar form).
#pragma once
#include <algorithm>
#include <cstdint>

#include "optim/prior_group_map.h"
#include "optim/prior_state.h"
#include "optim/sghmc_noise.h"

#if SLAB_NOISE_AVX512
namespace slab {

class PriorLanes {
 public:
  static constexpr int64_t kMaxCount = 256;  // the largest chunk a view covers

  // The view of elements [first, first + count) of the parameter `state` describes; first
  // must be a multiple of 16 and count at most kMaxCount.
  PriorLanes(const PriorState& state, int64_t first, int64_t count) {
    const PriorLayout& l = state.layout;
    const PriorGroupMap map = l.group_map();
    const bool grouped = !state.group_weight_decay.empty(), masked = state.has_masks();
    decay_ = _mm512_set1_ps(state.weight_decay);
    keep_ = _mm512_set1_ps(1.0f);
    if (!grouped && !masked) {
      form_ = Form::Uniform;
    } else if (map.kernel_groups && map.inner <= kMaxInner) {
      form_ = Form::KernelGroups;
      inner_ = map.inner;
      group_ = map.slice_of(first);  // = map.group_of_element(first): kernel groups are slices
      offset_ = first - group_ * inner_;
      step_groups_ = 16 / inner_;
      step_offset_ = 16 % inner_;
      inverse_inner_ = _mm512_set1_ps(1.0f / static_cast<float>(inner_));
      step_position_ = _mm512_set1_ps(static_cast<float>(step_offset_));
      inner_position_ = _mm512_set1_ps(static_cast<float>(inner_));
      lane_position_ = _mm512_add_ps(_mm512_set1_ps(static_cast<float>(offset_)), lane_centres());
      if (grouped) {
        group_decay_ = state.group_weight_decay.data();
        group_count_ = l.group_count();
      }
      if (masked) {
        // keep of groups [group_, last]; the lanes of the last vector may look up to 15
        // groups past it, which read zeros (those lanes lie past count and are not stored).
        // Walked in runs along a row's columns, sixteen groups at a time: the column bytes
        // widened to floats, or zeros for a pruned row.
        first_group_ = group_;
        const int64_t groups = (first + count - 1) / inner_ - first_group_ + 1;
        int64_t row = map.row_of(group_), column = map.column_of(group_);
        for (int64_t g = 0; g < groups;) {
          const int64_t run = std::min(l.columns - column, groups - g);
          const bool row_kept = state.row_kept(row);
          for (int64_t r = 0; r < run; r += 16) {
            const __mmask16 part = run - r >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (run - r)) - 1u);
            __m512 kept = _mm512_set1_ps(row_kept ? 1.0f : 0.0f);
            if (row_kept && !state.keep_columns.empty()) {
              const __m128i bytes = _mm_maskz_loadu_epi8(part, state.keep_columns.data() + column + r);
              kept = _mm512_maskz_mov_ps(_mm_test_epi8_mask(bytes, bytes), kept);  // 1 where the byte is not 0
            }
            _mm512_mask_storeu_ps(group_keep_ + g + r, part, kept);
          }
          g += run;
          column = 0;
          ++row;
        }
        _mm512_storeu_ps(group_keep_ + groups, _mm512_setzero_ps());
      }
    } else {
      form_ = Form::Arrays;
      expand_prior_state(state, first, count, decay_array_, keep_array_);
    }
  }

  // decay and keep of the next sixteen elements (the first call: elements first .. first + 15);
  // lanes is the step's tail mask (lanes past count are not read from the arrays).
  void next(__mmask16 lanes, __m512& decay, __m512& keep) {
    switch (form_) {
      case Form::Uniform:
        decay = decay_;
        keep = keep_;
        return;
      case Form::KernelGroups: {
        // idx = (offset + l) / inner (slice_of of lane l, less group_ = slice_of of lane 0),
        // computed as trunc((offset + l + 1/2) / inner) in float (lane_position_ holds
        // offset + l + 1/2, exact): the quotient is at least 1/(2 inner) from an integer, and
        // for inner <= kMaxInner the rounding of 1/inner and of the product moves it by less
        // than 1e-6.
        const __m512i idx = _mm512_cvttps_epi32(_mm512_mul_ps(lane_position_, inverse_inner_));
        if (group_decay_) {
          const int64_t left = group_count_ - group_;
          const __m512 groups =
              left >= 16 ? _mm512_loadu_ps(group_decay_ + group_)
                         : _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << left) - 1u), group_decay_ + group_);
          decay = _mm512_permutexvar_ps(idx, groups);
        } else {
          decay = decay_;
        }
        keep = first_group_ >= 0 ? _mm512_permutexvar_ps(idx, _mm512_loadu_ps(group_keep_ + (group_ - first_group_)))
                                 : keep_;
        // advance by sixteen elements: offset + 16 = offset + step_groups inner + step_offset
        group_ += step_groups_;
        offset_ += step_offset_;
        lane_position_ = _mm512_add_ps(lane_position_, step_position_);
        if (offset_ >= inner_) {
          offset_ -= inner_;
          ++group_;
          lane_position_ = _mm512_sub_ps(lane_position_, inner_position_);
        }
        return;
      }
      case Form::Arrays:
        decay = _mm512_maskz_loadu_ps(lanes, decay_array_ + position_);
        keep = _mm512_maskz_loadu_ps(lanes, keep_array_ + position_);
        position_ += 16;
        return;
    }
  }

 private:
  enum class Form { Uniform, KernelGroups, Arrays };
  static constexpr int64_t kMaxInner = 4096;  // larger kernels take the Arrays form
  static __m512 lane_centres() {
    return _mm512_set_ps(15.5f, 14.5f, 13.5f, 12.5f, 11.5f, 10.5f, 9.5f, 8.5f, 7.5f, 6.5f, 5.5f, 4.5f, 3.5f, 2.5f,
                         1.5f, 0.5f);
  }

  Form form_ = Form::Uniform;
  __m512 decay_, keep_;
  // KernelGroups
  int64_t inner_ = 1, group_ = 0, offset_ = 0, step_groups_ = 0, step_offset_ = 0;
  __m512 inverse_inner_, lane_position_, step_position_, inner_position_;
  const float* group_decay_ = nullptr;
  int64_t group_count_ = 0;
  int64_t first_group_ = -1;  // >= 0 when masked: group_keep_[g - first_group_]
  alignas(64) float group_keep_[kMaxCount + 2 + 16];
  // Arrays
  int64_t position_ = 0;
  alignas(64) float decay_array_[kMaxCount], keep_array_[kMaxCount];
};

}  // namespace slab
#endif
