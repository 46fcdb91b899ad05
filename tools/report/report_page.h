// slab-report's page: one self-contained HTML file (inline CSS and SVG; no script, no font
// or image fetched from anywhere, so it opens offline) with the sections of
// tools/report/report_sections.h for the given runs, overlaid where a chart shows several.
#pragma once
#include <string>
#include <vector>

#include "tools/report/run_data.h"

namespace slab::report {

std::string report_page(const std::vector<RunData>& runs);

}  // namespace slab::report
