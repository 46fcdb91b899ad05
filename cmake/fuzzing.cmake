# SLAB_FUZZ=ON: the libFuzzer targets of fuzz/ (docs/reliability.md#fuzzing). Every target of
# the build is compiled with clang's coverage instrumentation for libFuzzer and with
# AddressSanitizer and UndefinedBehaviorSanitizer (-O1 -g), so that the parsers the targets
# drive report a memory error or undefined behaviour at once; the fuzz targets link
# libFuzzer's main. Needs clang (Debian: `tools/setup.sh --with-fuzz`) and -DSLAB_CUDA=OFF.
option(SLAB_FUZZ "Build the libFuzzer targets of fuzz/ (clang, -fsanitize=fuzzer,address,undefined)" OFF)
if(SLAB_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SLAB_FUZZ needs clang: configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  set(SLAB_CUDA OFF CACHE STRING "Build the CUDA backend: AUTO, ON or OFF" FORCE)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-O1> $<$<COMPILE_LANGUAGE:CXX>:-g>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link,address,undefined>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=all>)
  add_link_options(-fsanitize=address,undefined)
endif()
