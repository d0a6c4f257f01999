// The short, deterministic fuzz run that `make test` does with GCC, without libFuzzer: a main()
// for any target that defines LLVMFuzzerTestOneInput. It runs every file of the folders (or files)
// it is given, the seed corpus and the regressions, and then a fixed number of mutations of them,
// drawn from a seeded generator so that every run tries the same inputs. A crash, an abort or a
// failed invariant (LF_CHECK in the target) ends the process, which fails the ctest entry, and so
// does an input that runs longer than kInputTimeoutS; a signal handler first writes the input to
// fuzz-failure-<target>.bin so it can be replayed and added to tests/fuzz/regressions/. `make fuzz`
// links the same targets with libFuzzer instead.
//
// usage: <target> [--mutations N] [--seed S] [--max-len BYTES] PATH...
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

// Byte strings that parsers treat specially; inserting them reaches branches that random bytes
// rarely do.
constexpr std::string_view kTokens[] = {
    "{", "}", "[", "]", "\"", ":", ",", "\\u0000", "\\ud800", "\n", "\r\n", "\t", " ",
    "-", "#", "&a", "*a", "- ", "? ", "!!str ", "'", "|", ">", "---\n", "null", "true",
    "1e999", "-0", "18446744073709551616", "9223372036854775807", "-9223372036854775808",
    "0.1", ".nan", ".inf", "\xff", "\xc3\xa9", "\xf0\x9f\x98\x80", "\xe2\x80", "\0",
    "%", "%00", "%2F", "?", "&", "=", "/", "Content-Length: ", "Transfer-Encoding: chunked\r\n",
    "\r\n\r\n", "0\r\n\r\n"};

struct Options {
  uint64_t mutations = 2000;
  uint64_t seed = 1;
  size_t max_len = 1 << 16;
  std::vector<std::string> paths;
};

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

constexpr unsigned kInputTimeoutS = 20;  // one input; the slowest targets take milliseconds

// The input being run, for the signal handler; and where it writes it.
const std::string* g_input = nullptr;
char g_failure_path[4096];

// On a crash, an abort or the timeout: saves the input with async-signal-safe calls only, then
// dies of the same signal (SIGALRM is turned into SIGABRT so that ctest reports a failure).
void OnFatalSignal(int signal_number) {
  if (g_input != nullptr) {
    const int fd = open(g_failure_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      (void)!write(fd, g_input->data(), g_input->size());
      close(fd);
    }
    constexpr char kSaved[] = "fuzz driver: the failing input is saved in ";
    (void)!write(2, kSaved, sizeof(kSaved) - 1);
    (void)!write(2, g_failure_path, strlen(g_failure_path));
    (void)!write(2, "\n", 1);
  }
  if (signal_number == SIGALRM) {
    constexpr char kHang[] = "fuzz driver: an input ran longer than the timeout\n";
    (void)!write(2, kHang, sizeof(kHang) - 1);
    signal_number = SIGABRT;
  }
  signal(signal_number, SIG_DFL);
  raise(signal_number);
}

void InstallSignalHandlers() {
  // Its own stack, so that a stack overflow can still be reported.
  static std::vector<char> stack(1 << 16);
  stack_t alt{};
  alt.ss_sp = stack.data();
  alt.ss_size = stack.size();
  sigaltstack(&alt, nullptr);
  struct sigaction action {};
  action.sa_handler = OnFatalSignal;
  action.sa_flags = SA_ONSTACK;
  for (int s : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM}) sigaction(s, &action, nullptr);
}

void Run(const std::string& input) {
  g_input = &input;
  alarm(kInputTimeoutS);
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  alarm(0);
  g_input = nullptr;
}

std::string Mutate(const std::vector<std::string>& corpus, std::mt19937_64& rng, size_t max_len) {
  auto below = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  std::string s = corpus[below(corpus.size())];
  const int steps = 1 + static_cast<int>(below(4));
  for (int i = 0; i < steps; ++i) {
    const size_t pos = below(s.size() + 1);
    switch (below(7)) {
      case 0:  // flip one bit
        if (!s.empty()) s[below(s.size())] ^= static_cast<char>(1u << below(8));
        break;
      case 1:  // a random byte
        s.insert(pos, 1, static_cast<char>(rng()));
        break;
      case 2: {  // delete a range
        const size_t n = std::min(s.size() - std::min(pos, s.size()), 1 + below(16));
        s.erase(std::min(pos, s.size()), n);
        break;
      }
      case 3: {  // a token
        const std::string_view t = kTokens[below(std::size(kTokens))];
        s.insert(pos, t.data(), t.size() == 0 ? 1 : t.size());
        break;
      }
      case 4: {  // splice: our head and another file's tail
        const std::string& other = corpus[below(corpus.size())];
        s = s.substr(0, pos) + other.substr(below(other.size() + 1));
        break;
      }
      case 5: {  // repeat a chunk many times (deep nesting, long runs)
        const size_t len = 1 + below(8);
        const std::string chunk = s.substr(std::min(pos, s.size()), len);
        std::string repeated;
        for (size_t k = 0, times = 2 + below(300); k < times; ++k) repeated += chunk;
        s.insert(std::min(pos, s.size()), repeated);
        break;
      }
      default:  // overwrite a byte with an extreme value
        if (!s.empty()) s[below(s.size())] = "\x00\x7f\x80\xff"[below(4)];
        break;
    }
  }
  if (s.size() > max_len) s.resize(max_len);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--mutations" || arg == "--seed" || arg == "--max-len") && i + 1 < argc) {
      const uint64_t value = std::strtoull(argv[++i], nullptr, 10);
      if (arg == "--mutations") options.mutations = value;
      if (arg == "--seed") options.seed = value;
      if (arg == "--max-len") options.max_len = static_cast<size_t>(value);
    } else if (arg.starts_with("--")) {
      std::fprintf(stderr, "usage: %s [--mutations N] [--seed S] [--max-len BYTES] PATH...\n",
                   argv[0]);
      return 2;
    } else {
      options.paths.push_back(arg);
    }
  }
  const std::string failure_path =
      "fuzz-failure-" + fs::path(argv[0]).filename().string() + ".bin";
  std::snprintf(g_failure_path, sizeof(g_failure_path), "%s", failure_path.c_str());
  InstallSignalHandlers();

  // Sorted, so the corpus (and with it every mutation) is the same on every machine.
  std::vector<fs::path> files;
  for (const std::string& path : options.paths) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      for (const auto& entry : fs::recursive_directory_iterator(path)) {
        if (entry.is_regular_file() && entry.path().filename().string()[0] != '.') {
          files.push_back(entry.path());
        }
      }
    } else if (fs::is_regular_file(path, ec)) {
      files.push_back(path);
    } else {
      // A missing regressions folder is fine (no crash found yet); a missing corpus is not.
      std::fprintf(stderr, "fuzz driver: %s: no such file or folder (skipped)\n", path.c_str());
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "fuzz driver: no input files: give the corpus folder\n");
    return 2;
  }

  const auto started = std::chrono::steady_clock::now();
  std::vector<std::string> corpus;
  for (const fs::path& file : files) {
    corpus.push_back(ReadAll(file));
    Run(corpus.back());
  }
  std::mt19937_64 rng(options.seed);
  for (uint64_t i = 0; i < options.mutations; ++i) Run(Mutate(corpus, rng, options.max_len));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("fuzz driver: %zu files and %llu mutations passed in %.2f s\n", files.size(),
              static_cast<unsigned long long>(options.mutations), seconds);
  return 0;
}
