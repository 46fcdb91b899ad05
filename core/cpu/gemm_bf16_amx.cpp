// The AMX kernel of bf16 matrix products: a 32 x 32 block of C in four 16 x 16 float32
// tiles (tmm0..3), two A tiles (tmm4, 5) and two B tiles (tmm6, 7) per 32 of k, so each
// loaded tile is used twice. Compiled with -mamx-tile -mamx-bf16 (tools: CMakeLists.txt);
// only called once matrix_units.h has found AMX and been granted the tile state.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/cpu/gemm_bf16.h"
#include "core/cpu/gemm_bf16_kernels.h"

namespace slab::cpu::bf16_kernels {

namespace {

// The 64-byte tile configuration of palette 1: every tile 16 rows of 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

constexpr int64_t kTileBytesPerRow = 64;

// A C tile goes through this buffer when it is not whole inside C (the edges of m and n).
struct alignas(64) EdgeTile {
  float values[kBf16TileRows * kBf16TileRows];
};

// GCC's tile intrinsics paste their tile number into the instruction text, so it must be a
// literal: the C tiles 0..3 are reached through these switches.
void zero_c_tile(int tile) {
  switch (tile) {
    case 0: _tile_zero(0); break;
    case 1: _tile_zero(1); break;
    case 2: _tile_zero(2); break;
    default: _tile_zero(3); break;
  }
}

void load_c_tile(int tile, const float* from, int64_t stride) {
  switch (tile) {
    case 0: _tile_loadd(0, from, stride); break;
    case 1: _tile_loadd(1, from, stride); break;
    case 2: _tile_loadd(2, from, stride); break;
    default: _tile_loadd(3, from, stride); break;
  }
}

void store_c_tile(int tile, float* to, int64_t stride) {
  switch (tile) {
    case 0: _tile_stored(0, to, stride); break;
    case 1: _tile_stored(1, to, stride); break;
    case 2: _tile_stored(2, to, stride); break;
    default: _tile_stored(3, to, stride); break;
  }
}

void load_c(int tile, const Block& blk, int row0, int col0, EdgeTile& edge) {
  const int rows = std::min<int>(blk.rows - row0, kBf16TileRows), cols = std::min<int>(blk.cols - col0, kBf16TileRows);
  float* c = blk.c + row0 * blk.ldc + col0;
  if (!blk.accumulate) {
    zero_c_tile(tile);
  } else if (rows == kBf16TileRows && cols == kBf16TileRows) {
    load_c_tile(tile, c, blk.ldc * static_cast<int64_t>(sizeof(float)));
  } else {
    std::memset(edge.values, 0, sizeof edge.values);
    for (int r = 0; r < rows; ++r) std::memcpy(edge.values + r * kBf16TileRows, c + r * blk.ldc, cols * sizeof(float));
    load_c_tile(tile, edge.values, kTileBytesPerRow);
  }
}

void store_c(int tile, const Block& blk, int row0, int col0, EdgeTile& edge) {
  const int rows = std::min<int>(blk.rows - row0, kBf16TileRows), cols = std::min<int>(blk.cols - col0, kBf16TileRows);
  float* c = blk.c + row0 * blk.ldc + col0;
  if (rows == kBf16TileRows && cols == kBf16TileRows) {
    store_c_tile(tile, c, blk.ldc * static_cast<int64_t>(sizeof(float)));
    return;
  }
  store_c_tile(tile, edge.values, kTileBytesPerRow);
  for (int r = 0; r < rows; ++r) std::memcpy(c + r * blk.ldc, edge.values + r * kBf16TileRows, cols * sizeof(float));
}

// RowTiles x ColTiles C tiles (each 1 or 2), C tile 2 r + c for row r and column c.
template <int RowTiles, int ColTiles>
void block_of(const Block& blk) {
  EdgeTile edge;
  load_c(0, blk, 0, 0, edge);
  if constexpr (ColTiles == 2) load_c(1, blk, 0, 16, edge);
  if constexpr (RowTiles == 2) load_c(2, blk, 16, 0, edge);
  if constexpr (RowTiles == 2 && ColTiles == 2) load_c(3, blk, 16, 16, edge);
  for (int64_t t = 0; t < blk.k_tiles; ++t) {
    const bf16_bits* a = blk.a + t * kBf16TileElements;
    const bf16_bits* b = blk.b + t * kBf16TileElements;
    _tile_loadd(4, a, kTileBytesPerRow);
    _tile_loadd(6, b, kTileBytesPerRow);
    if constexpr (RowTiles == 2) _tile_loadd(5, a + blk.a_step, kTileBytesPerRow);
    if constexpr (ColTiles == 2) _tile_loadd(7, b + blk.b_step, kTileBytesPerRow);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (ColTiles == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (RowTiles == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (RowTiles == 2 && ColTiles == 2) _tile_dpbf16ps(3, 5, 7);
  }
  store_c(0, blk, 0, 0, edge);
  if constexpr (ColTiles == 2) store_c(1, blk, 0, 16, edge);
  if constexpr (RowTiles == 2) store_c(2, blk, 16, 0, edge);
  if constexpr (RowTiles == 2 && ColTiles == 2) store_c(3, blk, 16, 16, edge);
}

}  // namespace

void amx_tiles_begin() {
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.bytes_per_row[t] = kTileBytesPerRow;
    config.rows[t] = kBf16TileRows;
  }
  // GCC 12's _tile_loadconfig tells the compiler it reads fewer bytes than the 64 it does,
  // and the stores above were dropped as dead: the barrier makes them land first.
  __asm__ volatile("" : : "r"(&config) : "memory");
  _tile_loadconfig(&config);
}

void amx_tiles_end() { _tile_release(); }

void amx_block(const Block& blk) {
  const bool two_rows = blk.rows > kBf16TileRows, two_cols = blk.cols > kBf16TileRows;
  if (two_rows && two_cols) block_of<2, 2>(blk);
  else if (two_rows) block_of<2, 1>(blk);
  else if (two_cols) block_of<1, 2>(blk);
  else block_of<1, 1>(blk);
}

}  // namespace slab::cpu::bf16_kernels
