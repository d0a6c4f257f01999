# Compiler settings shared by every target: ccache when present, warnings, and a helper that
# applies them. Included once from the top-level CMakeLists.txt.

find_program(LF_CCACHE ccache)
if(LF_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  # Precompiled headers are only reused by ccache when it ignores their timestamps; BASEDIR and
  # NOHASHDIR let a fresh clone elsewhere (CI) reuse the cache of an earlier build.
  set(lf_launcher env CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      CCACHE_BASEDIR=${CMAKE_SOURCE_DIR} CCACHE_NOHASHDIR=1 ${LF_CCACHE})
  set(CMAKE_C_COMPILER_LAUNCHER ${lf_launcher})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${lf_launcher})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${lf_launcher})
endif()

# lf_apply_warnings(target): our own code compiles warning-clean; third-party headers are
# included as SYSTEM through their imported targets and do not count.
# -Wno-missing-field-initializers: designated initializers that leave fields at their defaults
# are how we build records. -Wno-restrict: GCC 12 reports false positives inside
# std::string's operator+ (GCC bug 105329).
function(lf_apply_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unused-parameter
      -Wno-missing-field-initializers>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wno-restrict>)
endfunction()
