# The ctest `doc_citations_self_test`: tests/check_doc_citations.cmake must fail on a tree
# with wrong citations, naming each one as file:line, and pass on the same tree without
# them. (A check that cannot fail is a defect.)
#
#   cmake -DCHECKER=tests/check_doc_citations.cmake -DWORK_DIR=<scratch folder> -P this file
cmake_minimum_required(VERSION 3.20)

foreach(var CHECKER WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_doc_citations_self_test: pass -D${var}=...")
  endif()
endforeach()

set(tree "${WORK_DIR}/tree")
file(REMOVE_RECURSE "${tree}")

# The outside names, spelled so that this file does not name them itself.
set(spec_file "ALGO")
string(APPEND spec_file "RITHM.md")
set(spec_dir "shared/")
string(APPEND spec_dir "spec")

# "docs" through a variable, so that the repository's own check does not read these
# citations as its own.
set(d "docs")
set(fence "```")
file(WRITE "${tree}/${d}/guide.md" "# Guide

<a id=\"explicit-anchor\"></a>
## Some Heading: with `code` & [a link](x.md)!
## Repeated
## Repeated

${fence}sh
# not a heading
${fence}
See [here](#explicit-anchor) and [there](#missing-local).
Relative: other.md#top-section and [that](other.md#nope).
")
file(WRITE "${tree}/${d}/other.md" "# Top section\n")

set(good "// ${d}/guide.md#explicit-anchor and ${d}/guide.md#some-heading-with-code--a-link;
// ${d}/guide.md#repeated, ${d}/guide.md#repeated-1 and ${d}/guide.md without an anchor.
")
set(bad "// a third repeat that does not exist: ${d}/guide.md#repeated-2
// a missing file: ${d}/missing.md#x
// a heading inside a code fence is none: ${d}/guide.md#not-a-heading
// ${spec_file}, section 3
// ../${spec_dir}/notes
")
file(WRITE "${tree}/src/a.cpp" "${good}${bad}")
# Not scanned: build folders at the top, .git.
file(WRITE "${tree}/build-x/b.md" "${d}/missing.md#x ${spec_file}\n")
file(WRITE "${tree}/.git/c.md" "${d}/missing.md#x\n")

function(run_checker out_rc out_text)
  execute_process(COMMAND "${CMAKE_COMMAND}" -DSOURCE_DIR=${tree} -P "${CHECKER}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(${out_rc} "${rc}" PARENT_SCOPE)
  set(${out_text} "${out}${err}" PARENT_SCOPE)
endfunction()

set(failures "")
run_checker(rc text)
if(rc EQUAL 0)
  list(APPEND failures "the checker passed a tree with wrong citations")
endif()
foreach(expected
    "${d}/guide.md:11: '(#missing-local)': ${d}/guide.md has no anchor 'missing-local'"
    "${d}/guide.md:12: 'other.md#nope': ${d}/other.md has no anchor 'nope'"
    "src/a.cpp:3: '${d}/guide.md#repeated-2': ${d}/guide.md has no anchor 'repeated-2'"
    "src/a.cpp:4: '${d}/missing.md#x': ${d}/missing.md does not exist"
    "src/a.cpp:5: '${d}/guide.md#not-a-heading': ${d}/guide.md has no anchor 'not-a-heading'"
    "src/a.cpp:6: names the outside algorithm source"
    "src/a.cpp:7: names the outside specification folder"
    "7 problem(s)")
  string(FIND "${text}" "${expected}" at)
  if(at EQUAL -1)
    list(APPEND failures "missing from the output: ${expected}")
  endif()
endforeach()

file(WRITE "${tree}/src/a.cpp" "${good}")
file(WRITE "${tree}/${d}/guide.md" "# Guide\n\n<a id=\"explicit-anchor\"></a>\n## Some Heading: with `code` & [a link](x.md)!\n## Repeated\n## Repeated\nSee [here](#explicit-anchor), other.md#top-section.\n")
run_checker(rc clean_text)
if(NOT rc EQUAL 0)
  list(APPEND failures "the checker failed a tree whose citations all resolve")
endif()

if(failures)
  message("checker output on the wrong tree:\n${text}\nchecker output on the clean tree:\n${clean_text}")
  foreach(failure IN LISTS failures)
    message("FAILED: ${failure}")
  endforeach()
  message(FATAL_ERROR "doc_citations_self_test: the citation check does not do its job")
endif()
message("doc_citations_self_test: the check fails on 7 wrong citations, naming each, and passes once they are gone")
