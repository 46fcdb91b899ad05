# Keeps the repository's citations of its own docs honest (the ctest `doc_citations`):
#
#   cmake -DSOURCE_DIR=<repository root> -P tests/check_doc_citations.cmake
#
# Every text source (.cpp .h .cu .cuh .inc .md .sh .py .cmake, CMakeLists.txt; not build*/
# at the top, not .git) is scanned for
#   * citations `docs/<name>.md#<anchor>`, anywhere;
#   * in docs/*.md, relative links `<name>.md#<anchor>` (to docs/<name>.md);
#   * in any .md file, in-page links `](#<anchor>)`;
# and each must name an existing file that holds the anchor: an explicit `<a id="...">` (or
# `name=`), or a heading whose GitHub slug is the anchor (lower case; characters other than
# letters, digits, spaces, `-` and `_` dropped; spaces to `-`; a repeated heading gets -1,
# -2, ...). A mention of `docs/<name>.md` without an anchor must name an existing file.
# The algorithm's outside source and the outside design notes are not part of the
# repository, so a file that names them (or their folder) fails too: docs/algorithm.md and
# docs/architecture.md are the project's own.
#
# Every problem is printed as `file:line: 'citation': what is wrong`, and the script exits
# non-zero when there is one.
cmake_minimum_required(VERSION 3.20)

if(NOT DEFINED SOURCE_DIR)
  message(FATAL_ERROR "check_doc_citations: pass -DSOURCE_DIR=<repository root>")
endif()
get_filename_component(SOURCE_DIR "${SOURCE_DIR}" ABSOLUTE)
if(NOT IS_DIRECTORY "${SOURCE_DIR}/docs")
  message(FATAL_ERROR "check_doc_citations: ${SOURCE_DIR} has no docs/ folder")
endif()

# The outside source's names, spelled so that this file does not name them itself.
set(_spec_file "ALGORITHM")
string(APPEND _spec_file "\\.md")
set(_design_file "DESIGN")
string(APPEND _design_file "\\.md")
set(_spec_dir "shared/")
string(APPEND _spec_dir "spec")

# Characters of a doc name and of an anchor.
set(_name "[A-Za-z0-9_-]+")
set(_anchor "[A-Za-z0-9_-]+")

# ---- reading a file as lines -------------------------------------------------------------
# CMake lists are split at `;`, and `[`, `]` and `\` change how they split, so those are
# swapped for placeholders before the content is cut into lines at `\n`.
set(_semi "@@SEMI@@")
set(_lb "@@LB@@")
set(_rb "@@RB@@")
set(_bs "@@BS@@")

function(_read_lines path out_var)
  file(READ "${path}" content)
  string(REPLACE "\r" "" content "${content}")
  string(REPLACE "\\" "${_bs}" content "${content}")
  string(REPLACE ";" "${_semi}" content "${content}")
  string(REPLACE "[" "${_lb}" content "${content}")
  string(REPLACE "]" "${_rb}" content "${content}")
  string(REPLACE "\n" ";" content "${content}")
  set(${out_var} "${content}" PARENT_SCOPE)
endfunction()

function(_restore text out_var)
  string(REPLACE "${_semi}" ";" text "${text}")
  string(REPLACE "${_lb}" "[" text "${text}")
  string(REPLACE "${_rb}" "]" text "${text}")
  string(REPLACE "${_bs}" "\\" text "${text}")
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

# ---- anchors of a Markdown file ----------------------------------------------------------
# GitHub's slug of a heading's text.
function(_slug text out_var)
  string(REGEX REPLACE "[ \t]+#+[ \t]*$" "" text "${text}")  # closing hashes
  string(STRIP "${text}" text)
  string(REGEX REPLACE "\\[([^]]*)\\]\\([^)]*\\)" "\\1" text "${text}")  # [text](url) -> text
  string(REGEX REPLACE "<[^>]*>" "" text "${text}")  # inline HTML
  string(TOLOWER "${text}" text)
  string(REGEX REPLACE "[^a-z0-9 _-]" "" text "${text}")
  string(REPLACE " " "-" text "${text}")
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

# Sets _anchors_<key> (a list) for docs file `path`, once.
function(_load_anchors path key)
  if(DEFINED _anchors_${key})
    return()
  endif()
  set(anchors "")
  _read_lines("${path}" lines)
  set(fence FALSE)
  foreach(line IN LISTS lines)
    _restore("${line}" line)
    if(line MATCHES "^[ \t]*(```|~~~)")
      if(fence)
        set(fence FALSE)
      else()
        set(fence TRUE)
      endif()
      continue()
    endif()
    if(fence)
      continue()
    endif()
    string(REGEX MATCHALL "<a[ \t]+(id|name)=\"[^\"]+\"" explicit "${line}")
    foreach(tag IN LISTS explicit)
      string(REGEX REPLACE "^<a[ \t]+(id|name)=\"([^\"]+)\"$" "\\2" id "${tag}")
      list(APPEND anchors "${id}")
    endforeach()
    if(line MATCHES "^#+[ \t]+(.*)$")
      _slug("${CMAKE_MATCH_1}" slug)
      # A repeated heading gets -1, -2, ... as on GitHub.
      set(unique "${slug}")
      set(n 0)
      list(FIND anchors "${unique}" seen)
      while(NOT seen EQUAL -1)
        math(EXPR n "${n} + 1")
        set(unique "${slug}-${n}")
        list(FIND anchors "${unique}" seen)
      endwhile()
      list(APPEND anchors "${unique}")
    endif()
  endforeach()
  set(_anchors_${key} "${anchors}" PARENT_SCOPE)
endfunction()

# ---- checking one citation ---------------------------------------------------------------
set(_problems "")
set(_citations 0)

# `target` is a path relative to SOURCE_DIR; `anchor` may be empty (file only).
macro(_check_target where citation target anchor)
  math(EXPR _citations "${_citations} + 1")
  if(NOT EXISTS "${SOURCE_DIR}/${target}" OR IS_DIRECTORY "${SOURCE_DIR}/${target}")
    list(APPEND _problems "${where}: '${citation}': ${target} does not exist")
  elseif(NOT "${anchor}" STREQUAL "")
    string(MAKE_C_IDENTIFIER "${target}" _key)
    _load_anchors("${SOURCE_DIR}/${target}" "${_key}")
    list(FIND _anchors_${_key} "${anchor}" _found)
    if(_found EQUAL -1)
      list(APPEND _problems "${where}: '${citation}': ${target} has no anchor '${anchor}'")
    endif()
  endif()
endmacro()

# ---- the files ---------------------------------------------------------------------------
set(_patterns *.cpp *.h *.cu *.cuh *.inc *.md *.sh *.py *.cmake CMakeLists.txt)
set(_files "")
file(GLOB _top LIST_DIRECTORIES true RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/*" "${SOURCE_DIR}/.*")
foreach(entry IN LISTS _top)
  if(entry MATCHES "^build" OR entry STREQUAL ".git" OR entry STREQUAL "." OR entry STREQUAL "..")
    continue()
  endif()
  if(IS_DIRECTORY "${SOURCE_DIR}/${entry}")
    set(globs "")
    foreach(pattern IN LISTS _patterns)
      list(APPEND globs "${SOURCE_DIR}/${entry}/${pattern}")
    endforeach()
    file(GLOB_RECURSE found RELATIVE "${SOURCE_DIR}" ${globs})
    list(APPEND _files ${found})
  else()
    foreach(pattern IN LISTS _patterns)
      string(REPLACE "." "\\." regex "${pattern}")
      string(REPLACE "*" ".*" regex "${regex}")
      if(entry MATCHES "^${regex}$")
        list(APPEND _files "${entry}")
        break()
      endif()
    endforeach()
  endif()
endforeach()
list(FILTER _files EXCLUDE REGEX "(^|/)\\.git/")
list(REMOVE_DUPLICATES _files)
list(SORT _files)
list(LENGTH _files _file_count)

foreach(rel IN LISTS _files)
  file(READ "${SOURCE_DIR}/${rel}" content)
  # Most files cite nothing: look at their lines only when the content might.
  if(NOT content MATCHES "\\.md#|docs/${_name}\\.md|${_spec_file}|${_design_file}|${_spec_dir}|\\]\\(#")
    continue()
  endif()
  set(in_docs FALSE)
  if(rel MATCHES "^docs/[^/]+\\.md$")
    set(in_docs TRUE)
  endif()
  set(is_md FALSE)
  if(rel MATCHES "\\.md$")
    set(is_md TRUE)
  endif()
  _read_lines("${SOURCE_DIR}/${rel}" lines)
  set(number 0)
  foreach(line IN LISTS lines)
    math(EXPR number "${number} + 1")
    set(where "${rel}:${number}")
    if(line MATCHES "${_spec_file}")
      list(APPEND _problems "${where}: names the outside algorithm source (cite docs/algorithm.md#<anchor> instead)")
    endif()
    if(line MATCHES "${_design_file}")
      list(APPEND _problems "${where}: names the outside design notes (cite docs/architecture.md#<anchor> instead)")
    endif()
    if(line MATCHES "${_spec_dir}")
      list(APPEND _problems "${where}: names the outside specification folder (cite docs/algorithm.md or docs/architecture.md instead)")
    endif()
    if(NOT line MATCHES "\\.md|${_rb}\\(#")
      continue()
    endif()
    # The matching runs on the line with its placeholders: a list element that held a
    # bracket would split wrongly, and no name or anchor contains one.
    # docs/<name>.md#<anchor> and docs/<name>.md
    string(REGEX MATCHALL "docs/${_name}\\.md(#${_anchor})?" cited "${line}")
    foreach(citation IN LISTS cited)
      if(citation MATCHES "^(docs/${_name}\\.md)(#(${_anchor}))?$")
        _check_target("${where}" "${citation}" "${CMAKE_MATCH_1}" "${CMAKE_MATCH_3}")
      endif()
    endforeach()
    # In docs/*.md: <name>.md#<anchor>, relative to docs/ (not preceded by a path).
    if(in_docs)
      string(REGEX MATCHALL "(^|[^A-Za-z0-9_./-])${_name}\\.md#${_anchor}" relative "${line}")
      foreach(citation IN LISTS relative)
        string(REGEX REPLACE "^[^A-Za-z0-9_-]" "" citation "${citation}")
        if(citation MATCHES "^(${_name})\\.md#(${_anchor})$")
          _check_target("${where}" "${citation}" "docs/${CMAKE_MATCH_1}.md" "${CMAKE_MATCH_2}")
        endif()
      endforeach()
    endif()
    # In any .md: ](#<anchor>), in the same file.
    if(is_md)
      string(REGEX MATCHALL "${_rb}\\(#${_anchor}\\)" local "${line}")
      foreach(citation IN LISTS local)
        string(REGEX REPLACE "^${_rb}\\(#(.*)\\)$" "\\1" anchor "${citation}")
        _check_target("${where}" "(#${anchor})" "${rel}" "${anchor}")
      endforeach()
    endif()
  endforeach()
endforeach()

list(LENGTH _problems _problem_count)
if(_problem_count GREATER 0)
  foreach(problem IN LISTS _problems)
    message("${problem}")
  endforeach()
  message(FATAL_ERROR "doc_citations: ${_problem_count} problem(s) in ${_file_count} files "
                      "(${_citations} citations checked)")
endif()
message("doc_citations: ${_citations} citations checked in ${_file_count} files, all resolve")
