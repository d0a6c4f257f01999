// lorafleet-store: flags only; the tool lives in store_tool.cpp.
#include <string>
#include <vector>

#include "common/logging.h"
#include "coordinator/store/store_tool.h"

int main(int argc, char** argv) {
  lf::log::InitFromEnvironment();
  return lf::store::RunStoreTool(std::vector<std::string>(argv + 1, argv + argc));
}
