cmake_minimum_required(VERSION 3.22)
# The arrows between the rooms, checked: every `#include "..."` (and `#include <...>` of a
# repository path) of every source (.cpp .h .cu .cuh .inc) in the library's rooms and in
# tools/ must name a header of a room the including room may use.
# Run as  cmake -DSOURCE_DIR=<repository root> -P tests/check_include_arrows.cmake
# (ctest runs it as the include_arrows test). It fails listing file:line: include for each
# include that points against the table below; docs/architecture.md draws the same table.
#
# The table: the rooms each room may include, its own first. A room's subfolders (core/cpu,
# core/cuda, optim/cuda, tools/trainer, tools/bench) are part of the room. tests/ and examples/ may use
# everything and are not read; third_party/ is build glue that no source includes.
set(ARROWS_core   core)
set(ARROWS_layers layers core)
set(ARROWS_optim  optim core layers)
set(ARROWS_bayes  bayes core layers optim)
set(ARROWS_models models core layers)
set(ARROWS_data   data core)
set(ARROWS_tools  tools core layers optim bayes data models)
set(CHECKED_ROOMS core layers optim bayes models data tools)
set(SOURCE_PATTERNS *.cpp *.h *.cu *.cuh *.inc)

if(NOT SOURCE_DIR)
  message(FATAL_ERROR "check_include_arrows: pass -DSOURCE_DIR=<repository root>")
endif()
get_filename_component(SOURCE_DIR "${SOURCE_DIR}" ABSOLUTE)

# The room of `path` (relative to SOURCE_DIR): its first folder.
function(room_of path out)
  string(REGEX REPLACE "/.*" "" room "${path}")
  set(${out} "${room}" PARENT_SCOPE)
endfunction()

set(violations "")
set(violation_count 0)
set(file_count 0)
set(include_count 0)
foreach(room ${CHECKED_ROOMS})
  set(globs "")
  foreach(pattern ${SOURCE_PATTERNS})
    list(APPEND globs "${SOURCE_DIR}/${room}/${pattern}")
  endforeach()
  file(GLOB_RECURSE sources LIST_DIRECTORIES false ${globs})
  list(SORT sources)
  foreach(source ${sources})
    math(EXPR file_count "${file_count} + 1")
    file(RELATIVE_PATH source_name "${SOURCE_DIR}" "${source}")
    get_filename_component(source_folder "${source}" DIRECTORY)
    # One list element per line: the characters CMake's lists treat specially (\ ; [ ])
    # never occur in an include's path, so they become spaces and the line count stays true.
    file(READ "${source}" text)
    string(REGEX REPLACE "[][\\;\r]" " " text "${text}")
    string(REPLACE "\n" ";" lines "${text}")
    set(line_number 0)
    foreach(line IN LISTS lines)
      math(EXPR line_number "${line_number} + 1")
      if(NOT line MATCHES "^[ \t]*#[ \t]*include[ \t]*([<\"])([^\">]+)[\">]")
        continue()
      endif()
      set(delimiter "${CMAKE_MATCH_1}")
      set(included "${CMAKE_MATCH_2}")
      # "..." is looked up next to the including file first, then (as <...>) from the
      # repository root, the library's one include directory.
      if(delimiter STREQUAL "\"" AND EXISTS "${source_folder}/${included}")
        get_filename_component(target "${source_folder}/${included}" ABSOLUTE)
        file(RELATIVE_PATH target "${SOURCE_DIR}" "${target}")
      else()
        set(target "${included}")
      endif()
      room_of("${target}" target_room)
      if(target MATCHES "^\\.\\./" OR NOT target MATCHES "/"
         OR NOT (DEFINED ARROWS_${target_room} OR IS_DIRECTORY "${SOURCE_DIR}/${target_room}"))
        continue()  # outside the repository: a system or library header (<vector>, "CLI/CLI.hpp")
      endif()
      math(EXPR include_count "${include_count} + 1")
      if(NOT target_room IN_LIST ARROWS_${room})
        string(REPLACE ";" " " allowed "${ARROWS_${room}}")
        if(delimiter STREQUAL "<")
          set(line_include "<${included}>")
        else()
          set(line_include "\"${included}\"")
        endif()
        list(APPEND violations "${source_name}:${line_number}: include ${line_include} (${room} may use: ${allowed})")
        math(EXPR violation_count "${violation_count} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()

if(violation_count GREATER 0)
  string(REPLACE ";" "\n" listing "${violations}")
  message("${listing}")
  message(FATAL_ERROR "include_arrows: ${violation_count} include(s) point against the arrows "
                      "(the table is at the top of tests/check_include_arrows.cmake)")
endif()
message(STATUS "include_arrows: ${include_count} includes of the repository's headers in ${file_count} files "
               "follow the arrows")
