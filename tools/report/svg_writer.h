// A small writer of inline SVG for slab-report's charts: elements appended as text, with
// attribute values and text escaped, numbers printed with a fixed precision so the page is
// the same for the same run folders.
#pragma once
#include <string>
#include <vector>

namespace slab::report {

// &, <, >, " and ' as entities, for text and attribute values.
std::string escape_xml(const std::string& text);
// A number as SVG coordinates want it: at most 2 decimals, no trailing zeros.
std::string coordinate(double value);

struct Point {
  double x = 0, y = 0;
};

class SvgWriter {
 public:
  // `css_class` and `data` (extra attributes, e.g. `data-chart="loss"`) go on the <svg>.
  SvgWriter(double width, double height, const std::string& title, const std::string& css_class,
            const std::string& data);

  void line(Point from, Point to, const std::string& style);
  void polyline(const std::vector<Point>& points, const std::string& style, const std::string& attributes);
  void rect(double x, double y, double width, double height, const std::string& style, const std::string& attributes);
  void circle(Point centre, double radius, const std::string& style);
  // anchor: start, middle or end; `rotate` turns the text about its anchor (degrees).
  void text(Point at, const std::string& content, const std::string& anchor, const std::string& css_class,
            double rotate = 0);
  void open_group(const std::string& attributes);
  void close_group();
  std::string finish();  // the <svg> element, closed

 private:
  std::string out_;
};

}  // namespace slab::report
