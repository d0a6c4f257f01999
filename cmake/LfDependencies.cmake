# Third-party packages, all from Debian's -dev packages (cluster/install-deps.sh installs them),
# and the optional GPU toolchain. CUDA and NCCL are found automatically; -DLF_WITH_CUDA=OFF or
# -DLF_WITH_NCCL=OFF forces them off, and the CPU build is complete without them.

find_package(Threads REQUIRED)
find_package(RocksDB REQUIRED CONFIG)
find_package(spdlog REQUIRED CONFIG)
find_package(nlohmann_json 3.10 REQUIRED CONFIG)
find_package(yaml-cpp REQUIRED CONFIG)
find_package(CLI11 2.1 REQUIRED CONFIG)  # every executable's flags (common/flags.h)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)  # pre-tokenizer regexes
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)  # NFC/NFKC/NFD normalizers
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)  # tokenizer.model files
find_package(Boost 1.74 REQUIRED CONFIG COMPONENTS headers)  # Asio and Beast (header-only)
pkg_check_modules(ZMQ REQUIRED IMPORTED_TARGET libzmq)  # coordinator <-> worker; zmq.hpp from cppzmq-dev
find_package(prometheus-cpp CONFIG REQUIRED)  # GET /metrics: its core library only
if(NOT LF_FUZZ)  # the fuzz build has no worker ranks
  find_package(MPI REQUIRED COMPONENTS CXX)                   # worker ranks (mpirun / srun)
  find_program(LF_MPIRUN NAMES mpirun mpiexec HINTS ${MPIEXEC_EXECUTABLE})
endif()

# lf_asio: what a target using Boost.Asio/Beast links. BOOST_ASIO_NO_DEPRECATED keeps us on the
# API that later Boost versions still have.
add_library(lf_asio INTERFACE)
target_link_libraries(lf_asio INTERFACE Boost::headers Threads::Threads)
target_compile_definitions(lf_asio INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)

# yaml-cpp 0.7's config file names its target yaml-cpp without a namespace; later ones add
# yaml-cpp::yaml-cpp. Use one name everywhere.
if(NOT TARGET yaml-cpp::yaml-cpp)
  add_library(yaml-cpp::yaml-cpp INTERFACE IMPORTED)
  target_link_libraries(yaml-cpp::yaml-cpp INTERFACE yaml-cpp)
endif()

# The fuzz build stops here: what it fuzzes is torch-free and runs on the CPU.
if(LF_FUZZ)
  set(LF_WITH_CUDA OFF)
  set(LF_WITH_NCCL OFF)
  return()
endif()

# --- CUDA / NCCL (optional) ------------------------------------------------------------------
set(LF_WITH_CUDA AUTO CACHE STRING "Build CUDA kernels: AUTO (when nvcc is found), ON or OFF")
set(LF_WITH_NCCL AUTO CACHE STRING "Build the NCCL collective: AUTO (with CUDA, when found), ON or OFF")
set_property(CACHE LF_WITH_CUDA PROPERTY STRINGS AUTO ON OFF)
set_property(CACHE LF_WITH_NCCL PROPERTY STRINGS AUTO ON OFF)

if(NOT LF_WITH_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # Before enable_language, which would otherwise cache nvcc's own default (sm_52 or sm_75).
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90 CACHE STRING
          "GPU architectures: A100 and H100/H200, the machines lorafleet runs on")
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    # CMake 3.25 has no flags for CUDA 20 with nvcc; kernels need only C++17.
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(LF_WITH_CUDA ON)
  elseif(LF_WITH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "LF_WITH_CUDA=ON but no CUDA compiler was found; install the CUDA "
                        "toolkit (nvcc), pass -DCMAKE_CUDA_COMPILER=/path/to/nvcc, or use "
                        "-DLF_WITH_CUDA=OFF")
  else()
    set(LF_WITH_CUDA OFF)
  endif()
endif()

if(LF_WITH_CUDA AND NOT LF_WITH_NCCL STREQUAL "OFF")
  find_path(LF_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
  find_library(LF_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
  if(LF_NCCL_INCLUDE_DIR AND LF_NCCL_LIBRARY)
    add_library(lf_nccl INTERFACE IMPORTED)
    target_include_directories(lf_nccl INTERFACE ${LF_NCCL_INCLUDE_DIR})
    target_link_libraries(lf_nccl INTERFACE ${LF_NCCL_LIBRARY})
    set(LF_WITH_NCCL ON)
  elseif(LF_WITH_NCCL STREQUAL "ON")
    message(FATAL_ERROR "LF_WITH_NCCL=ON but nccl.h / libnccl were not found next to CUDA; "
                        "install NCCL or use -DLF_WITH_NCCL=OFF")
  else()
    set(LF_WITH_NCCL OFF)
  endif()
else()
  set(LF_WITH_NCCL OFF)
endif()
if(NOT LF_WITH_CUDA)
  set(LF_WITH_CUDA OFF)
endif()

# --- LibTorch -------------------------------------------------------------------------------
# Debian's libtorch-dev (1.13, CPU) is found by default. On GPU machines the PyTorch package's
# LibTorch 2.x is used instead when Debian's is absent (or when -DTorch_DIR points at it).
# TorchConfig looks for its Caffe2 config by PATHS, which a system-wide Debian LibTorch would
# shadow; point it at the one beside the chosen TorchConfig.
macro(lf_pin_caffe2 torch_dir)
  if(NOT Caffe2_DIR AND EXISTS "${torch_dir}/../Caffe2/Caffe2Config.cmake")
    set(Caffe2_DIR "${torch_dir}/../Caffe2")
  endif()
endmacro()
if(Torch_DIR)
  lf_pin_caffe2("${Torch_DIR}")
endif()
find_package(Torch QUIET CONFIG)
if(NOT Torch_FOUND)
  find_package(Python3 COMPONENTS Interpreter QUIET)
  if(Python3_Interpreter_FOUND)
    execute_process(
      COMMAND ${Python3_EXECUTABLE} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE lf_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(lf_torch_prefix)
      lf_pin_caffe2("${lf_torch_prefix}/Torch")
      find_package(Torch CONFIG PATHS ${lf_torch_prefix} NO_DEFAULT_PATH)
    endif()
  endif()
endif()
if(NOT Torch_FOUND)
  message(FATAL_ERROR "LibTorch was not found: run 'make deps' (installs Debian's libtorch-dev) "
                      "or pass -DTorch_DIR=<dir with TorchConfig.cmake>")
endif()
# Debian's Caffe2 config declares an imported `gflags` target without a library location when
# gflags' own config file is found; point it at the library so generation succeeds.
if(TARGET gflags)
  get_target_property(lf_gflags_location gflags IMPORTED_LOCATION)
  get_target_property(lf_gflags_type gflags TYPE)
  if(NOT lf_gflags_location AND NOT lf_gflags_type STREQUAL "INTERFACE_LIBRARY")
    find_library(LF_GFLAGS_LIBRARY gflags)
    if(LF_GFLAGS_LIBRARY)
      set_target_properties(gflags PROPERTIES IMPORTED_LOCATION ${LF_GFLAGS_LIBRARY})
    endif()
  endif()
endif()
if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
  message(FATAL_ERROR "The LibTorch found (${Torch_DIR}) uses the pre-C++11 string ABI, which "
                      "cannot link with Debian's RocksDB and yaml-cpp; use a LibTorch built with "
                      "the C++11 ABI (PyTorch >= 2.7 wheels, or Debian's libtorch-dev)")
endif()

# lf_torch: what a target that includes torch links. TORCH_LIBRARIES carries the CUDA libraries
# when LibTorch was built with CUDA.
add_library(lf_torch INTERFACE)
target_link_libraries(lf_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(lf_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
