#include "tools/report/report_sections.h"
#include "tools/report/svg_writer.h"

namespace slab::report {

std::string configuration(const std::vector<RunData>& runs) {
  std::string html = "<section id=\"configuration\">\n<h2>Configuration</h2>\n";
  for (const RunData& run : runs)
    html += "<h3>" + escape_xml(run.label) + "</h3>\n<p class=\"backend\">backend: " + escape_xml(run.backend()) +
            "</p>\n<p class=\"note\">run folder: " + escape_xml(run.path) + "</p>\n<pre class=\"config\">" +
            escape_xml(run.config.dump(2)) + "</pre>\n";
  return html + "</section>\n";
}

}  // namespace slab::report
