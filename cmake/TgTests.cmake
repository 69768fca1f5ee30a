# Test helpers.
#
# tg_add_unit_test(SOURCE): one Criterion unit test in its three variants:
#   unit_<n>      against tg_core;
#   valgrind_<n>  the same binary under valgrind memcheck
#                 (tests/tools/valgrind_unit.sh);
#   san_<n>       built against tg_core_san with ASan+UBSan (TG_SANITIZE).
#
# tg_add_bpf_test(SOURCE): a BPF_PROG_TEST_RUN test (tests/bpf/), serial,
# under ASan+UBSan when TG_SANITIZE is on.

set(TG_UNIT_DEFS
  TG_EXAMPLE_PLUGIN="$<TARGET_FILE:tollgate_hook_example>" TG_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
  TG_BADABI_PLUGIN="$<TARGET_FILE:tollgate_hook_badabi>"
  TG_MARKER_PLUGIN="$<TARGET_FILE:tollgate_hook_marker>"
  TG_BPF_OBJ="${CMAKE_BINARY_DIR}/gen/tollgate.bpf.o")
set(TG_SAN_ENV
  "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

function(tg_add_unit_test src)
  get_filename_component(n ${src} NAME_WE)
  add_executable(unit_${n} ${src})
  target_compile_options(unit_${n} PRIVATE ${TG_WARN})
  target_link_libraries(unit_${n} PRIVATE tg_core ${CRITERION_LIB})
  target_compile_definitions(unit_${n} PRIVATE ${TG_UNIT_DEFS})
  add_dependencies(unit_${n} tollgate_hook_example tollgate_hook_badabi tollgate_hook_marker
    tollgate_skel)
  add_test(NAME unit_${n} COMMAND unit_${n} --jobs 2)
  set_tests_properties(unit_${n} PROPERTIES LABELS unit)

  # Uninitialised reads, invalid accesses and definite/indirect leaks are
  # errors. Criterion runs each test in its own process, so the script
  # follows children (--jobs 1: one valgrind'd test at a time per binary,
  # ctest -j spreads binaries).
  add_test(NAME valgrind_${n} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/tools/valgrind_unit.sh
    ${CMAKE_SOURCE_DIR}/tests/valgrind.supp $<TARGET_FILE:unit_${n}> --jobs 1)
  set_tests_properties(valgrind_${n} PROPERTIES LABELS valgrind SKIP_RETURN_CODE 77
    TIMEOUT 900)

  if(TG_SANITIZE)
    add_executable(san_${n} ${src})
    target_compile_options(san_${n} PRIVATE ${TG_WARN} ${TG_SAN_FLAGS})
    target_link_libraries(san_${n} PRIVATE tg_core_san ${CRITERION_LIB})
    target_compile_definitions(san_${n} PRIVATE ${TG_UNIT_DEFS})
    add_dependencies(san_${n} tollgate_hook_example tollgate_hook_badabi tollgate_hook_marker
      tollgate_skel)
    add_test(NAME san_${n} COMMAND san_${n} --jobs 2)
    set_tests_properties(san_${n} PROPERTIES LABELS sanitize ENVIRONMENT "${TG_SAN_ENV}")
  endif()
endfunction()

# With TG_SANITIZE the BPF tier runs under ASan+UBSan too (the harness, the
# packet builders and the agent code they call); the kernel side is the
# verifier's business. Built once, not twice: the tier is the slow one.
function(tg_add_bpf_test src)
  get_filename_component(n ${src} NAME_WE)
  add_executable(bpf_${n} ${src} tests/lib/pkt.c tests/bpf/harness.c)
  target_compile_options(bpf_${n} PRIVATE ${TG_WARN})
  target_include_directories(bpf_${n} PRIVATE ${CMAKE_SOURCE_DIR}/tests/bpf ${CMAKE_SOURCE_DIR}/tests/lib)
  if(TG_SANITIZE)
    target_compile_options(bpf_${n} PRIVATE ${TG_SAN_FLAGS})
    target_link_libraries(bpf_${n} PRIVATE tg_core_san tollgate_bpf trivial_bpf ${CRITERION_LIB})
  else()
    target_link_libraries(bpf_${n} PRIVATE tg_core tollgate_bpf trivial_bpf ${CRITERION_LIB})
  endif()
  add_test(NAME bpf_${n} COMMAND bpf_${n} --jobs 1)
  set_tests_properties(bpf_${n} PROPERTIES LABELS bpf RUN_SERIAL TRUE ENVIRONMENT "${TG_SAN_ENV}")
endfunction()
