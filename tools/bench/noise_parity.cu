// GPU check of the claim in optim/sghmc_noise.h: the samplers' normals (noise::normal_pair
// through noise::normals_of_block) and the SGHMC update (sghmc_update) are the same bits on
// a CUDA device as on an FMA-capable host. Not part of the build; on a machine with a GPU:
//
//   nvcc -std=c++20 -O3 -arch=sm_90 -Xcompiler -march=x86-64-v3 -I. tools/bench/noise_parity.cu -o noise_parity
//   ./noise_parity        # prints the mismatch counts and the largest relative differences; exit 1 on a mismatch
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "optim/sghmc_kernel.h"

using namespace slab;

namespace {

__global__ void normals_kernel(uint64_t seed, uint64_t stream, uint64_t first_block, int64_t blocks, float* out) {
  const int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (j < blocks) noise::normals_of_block(philox::block(seed, stream, first_block + static_cast<uint64_t>(j)), out + 4 * j);
}

__global__ void update_kernel(float* w, float* m, float* rho, const float* g, const float* xi_prev, const float* xi,
                              int64_t n, SghmcCoefficients k) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) sghmc_update(w[i], m[i], rho[i], g[i], xi_prev[i], xi[i], i % 3 == 0 ? 2.0f : 5e-4f, i % 7 ? 1.0f : 0.0f, k);
}

int compare(const char* what, const std::vector<float>& host, const std::vector<float>& device) {
  int mismatches = 0;
  double worst = 0;
  for (size_t i = 0; i < host.size(); ++i) {
    if (std::memcmp(&host[i], &device[i], sizeof(float)) != 0) ++mismatches;
    worst = std::max(worst, std::abs(static_cast<double>(host[i]) - device[i]) / (1e-30 + std::abs(static_cast<double>(host[i]))));
  }
  std::printf("%s: %d of %zu differ; largest relative difference %.3g\n", what, mismatches, host.size(), worst);
  return mismatches;
}

}  // namespace

int main() {
  const int64_t blocks = 1 << 20;
  const uint64_t seed = 0x0123456789ABCDEFull, stream = noise::kSghmcDomain + 5, first = 0xFFFF0000ull;
  float* d_out = nullptr;
  cudaMalloc(&d_out, sizeof(float) * 4 * blocks);
  normals_kernel<<<(blocks + 255) / 256, 256>>>(seed, stream, first, blocks, d_out);
  std::vector<float> device(4 * blocks), host(4 * blocks);
  cudaMemcpy(device.data(), d_out, sizeof(float) * 4 * blocks, cudaMemcpyDeviceToHost);
  for (int64_t j = 0; j < blocks; ++j)
    noise::normals_of_block(philox::block(seed, stream, first + static_cast<uint64_t>(j)), host.data() + 4 * j);
  int bad = compare("normals", host, device);

  const int64_t n = 1 << 20;
  std::vector<float> w(n), m(n), rho(n), g(n), xi_prev(host.begin(), host.begin() + n), xi(host.begin() + n, host.begin() + 2 * n);
  for (int64_t i = 0; i < n; ++i) {
    w[i] = 0.3f * xi[(i * 7) % n];
    m[i] = 1e-3f * xi_prev[(i * 13) % n];
    rho[i] = 4.0f * xi[(i * 5) % n];
    g[i] = 0.01f * xi_prev[(i * 3) % n];
  }
  const SghmcCoefficients k = SghmcCoefficients::make(0.05, 0.05, 64, 0.1, 0.1, 1.0);
  float* d[6];
  const std::vector<float>* sources[6] = {&w, &m, &rho, &g, &xi_prev, &xi};
  for (int a = 0; a < 6; ++a) {
    cudaMalloc(&d[a], sizeof(float) * n);
    cudaMemcpy(d[a], sources[a]->data(), sizeof(float) * n, cudaMemcpyHostToDevice);
  }
  update_kernel<<<(n + 255) / 256, 256>>>(d[0], d[1], d[2], d[3], d[4], d[5], n, k);
  for (int64_t i = 0; i < n; ++i)
    sghmc_update(w[i], m[i], rho[i], g[i], xi_prev[i], xi[i], i % 3 == 0 ? 2.0f : 5e-4f, i % 7 ? 1.0f : 0.0f, k);
  const char* names[3] = {"sghmc_update weight", "sghmc_update momentum", "sghmc_update rho"};
  std::vector<float>* results[3] = {&w, &m, &rho};
  for (int a = 0; a < 3; ++a) {
    std::vector<float> back(n);
    cudaMemcpy(back.data(), d[a], sizeof(float) * n, cudaMemcpyDeviceToHost);
    bad += compare(names[a], *results[a], back);
  }
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) {
    std::printf("CUDA error: %s\n", cudaGetErrorString(error));
    return 2;
  }
  return bad == 0 ? 0 : 1;
}
