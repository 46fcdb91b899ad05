#include <cmath>
#include <cstdio>
#include <limits>

#include "tools/report/report_sections.h"
#include "tools/report/svg_writer.h"

namespace slab::report {

std::string figure(const std::string& svg, const std::string& caption) {
  return "<figure>\n" + svg + "<figcaption>" + escape_xml(caption) + "</figcaption>\n</figure>\n";
}

double number_of(const nlohmann::json& object, const std::string& key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number())
    return std::numeric_limits<double>::quiet_NaN();
  return object[key].get<double>();
}

std::vector<double> column(const RunData& run, const std::string& key) {
  std::vector<double> values;
  for (const nlohmann::json& e : run.epochs) values.push_back(number_of(e, key));
  return values;
}

std::string cell(double value, const char* format) {
  if (std::isnan(value)) return "-";
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

}  // namespace slab::report
