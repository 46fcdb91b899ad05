# SLAB_SANITIZE=ON: every target is built with AddressSanitizer and UndefinedBehaviorSanitizer
# at -O1 with frame pointers, so that a memory error or undefined behaviour (signed overflow,
# a misaligned or null pointer, a shift out of range) stops the program with a report that
# names the line. halt_on_error (here -fno-sanitize-recover, and ASAN_OPTIONS/UBSAN_OPTIONS for
# the tests) makes the first report fail the test instead of printing and going on. The
# program tests see SLAB_TEST_REDUCED_SIZES=1 and train on fewer images (tests/test_programs.cpp),
# since sanitized code runs several times slower. CPU only: nvcc does not take these flags.
option(SLAB_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer (-O1 -g)" OFF)
if(SLAB_SANITIZE)
  if(SLAB_CUDA STREQUAL "ON")
    message(FATAL_ERROR "SLAB_SANITIZE needs -DSLAB_CUDA=OFF: the sanitizers instrument host code only")
  endif()
  set(SLAB_CUDA OFF CACHE STRING "Build the CUDA backend: AUTO, ON or OFF" FORCE)
  set(SLAB_SANITIZE_FLAGS -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
                          -fno-sanitize-recover=all)
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:${SLAB_SANITIZE_FLAGS}>")
  # At -O1 GCC 12's false report inside its own avx512fintrin.h (GCC bug 105593, silenced as
  # -Wmaybe-uninitialized in CMakeLists.txt) comes as -Wuninitialized.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wno-uninitialized>)
  endif()
  add_link_options(-fsanitize=address,undefined)
  set(SLAB_SANITIZE_TEST_ENVIRONMENT
      "ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1"
      "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
      "SLAB_TEST_REDUCED_SIZES=1")
endif()
