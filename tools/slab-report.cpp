// slab-report RUN_DIR [RUN_DIR...] [--output report.html]: one self-contained HTML page with
// the charts of the given run folders (tools/report/report_page.h), overlaid where a chart
// shows several runs. It only reads the run folders (docs/run-folder.md).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tools/report/report_page.h"
#include "tools/report/run_data.h"
#include "tools/trainer/errors.h"
#include "tools/trainer/run_folder.h"

int main(int argc, char** argv) {
  std::vector<std::string> folders;
  std::string output = "report.html";
  CLI::App app("slab-report: one self-contained HTML page (inline SVG, no script) with the curves, sparsity maps, "
               "reliability diagrams and OOD histograms of one or more run folders",
               "slab-report");
  app.add_option("RUN_DIR", folders, "run folders of slab-train programs (several: overlaid)")->required();
  app.add_option("--output", output, "the HTML file to write")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : slab::tools::kExitUsage;
  }
  try {
    std::vector<slab::report::RunData> runs;
    for (const std::string& folder : folders) runs.push_back(slab::report::read_run(folder));
    slab::tools::write_file_atomically(output, slab::report::report_page(runs));
    std::printf("report: %s (%zu run folders)\n", output.c_str(), runs.size());
    return 0;
  } catch (const std::exception& error) {
    return slab::tools::report_error(error);
  }
}
