# The fuzz build (-DLF_FUZZ=ON, what `make fuzz` configures in build-fuzz/): the torch-free
# libraries the fuzz targets exercise, compiled with clang's coverage instrumentation for libFuzzer
# and with AddressSanitizer and UndefinedBehaviorSanitizer, and the targets of tests/fuzz/ linked
# with libFuzzer's main. Undefined behaviour aborts (no recovery), so libFuzzer reports it as a
# crash with the input that caused it. Included from the top-level CMakeLists.txt.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "LF_FUZZ=ON needs clang (libFuzzer is part of it): configure with "
                      "CC=clang CXX=clang++ in a fresh build folder, as `make fuzz` does")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer -gline-tables-only)
add_link_options(-fsanitize=address,undefined)

add_subdirectory(common)
add_subdirectory(jobs)
add_subdirectory(coordinator)
add_subdirectory(worker/tokenizer)
add_subdirectory(tests/fuzz)
message(STATUS "lorafleet ${PROJECT_VERSION}: fuzz build (clang ${CMAKE_CXX_COMPILER_VERSION}); "
               "targets: cmake --build . --target lf_fuzz_targets")
