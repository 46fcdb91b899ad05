# `cmake --install <build> --prefix P` installs slab as a CMake package:
#   P/include/slab/<room>/*.h      the headers, by room: with P/include/slab on the include
#                                  path (slab::slab gives it), `#include "core/ops.h"` works;
#                                  tools/trainer/*.h (the trainer), tools/export/*.h (its
#                                  exporter) and tests/gradcheck.h too
#   P/lib/libslab.a                the library (slab::slab)
#   P/lib/libslab_trainer.a        the trainer of the slab-train-* programs (slab::trainer)
#   P/lib/cmake/slab/              slabConfig.cmake, its version file and the exported targets
# so that `find_package(slab)` gives slab::slab, slab::trainer and slab::testing (the
# gradient check with doctest) with their include paths, options and dependencies.
include(CMakePackageConfigHelpers)

set(SLAB_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/slab)

set_target_properties(slab_deps PROPERTIES EXPORT_NAME deps)
set_target_properties(slab_doctest PROPERTIES EXPORT_NAME doctest)
set_target_properties(slab_testing PROPERTIES EXPORT_NAME testing)
set_target_properties(slab_trainer PROPERTIES EXPORT_NAME trainer)
set(SLAB_EXPORTED_TARGETS slab slab_deps slab_trainer slab_doctest slab_testing)
if(SLAB_WITH_CUDA)
  set_target_properties(slab_cuda_deps PROPERTIES EXPORT_NAME cuda_deps)
  list(APPEND SLAB_EXPORTED_TARGETS slab_cuda_deps)
endif()

install(TARGETS ${SLAB_EXPORTED_TARGETS} EXPORT slabTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT slabTargets NAMESPACE slab:: DESTINATION ${SLAB_INSTALL_CMAKEDIR})

# Headers keep the repository's layout. core/cuda/ is the CUDA backend's inside (it needs the
# CUDA headers); nothing outside it includes it.
install(DIRECTORY core layers optim bayes data models
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/slab
        FILES_MATCHING PATTERN "*.h" PATTERN "*.inc"
        PATTERN "cuda" EXCLUDE)
install(DIRECTORY tools/trainer/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/slab/tools/trainer FILES_MATCHING PATTERN "*.h")
install(DIRECTORY tools/export/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/slab/tools/export FILES_MATCHING PATTERN "*.h")
install(FILES tests/gradcheck.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/slab/tests)

configure_package_config_file(cmake/slabConfig.cmake.in ${PROJECT_BINARY_DIR}/slabConfig.cmake
                              INSTALL_DESTINATION ${SLAB_INSTALL_CMAKEDIR})
# 0.x: a minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/slabConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/slabConfig.cmake ${PROJECT_BINARY_DIR}/slabConfigVersion.cmake
        DESTINATION ${SLAB_INSTALL_CMAKEDIR})
