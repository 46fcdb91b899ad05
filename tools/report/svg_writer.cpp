#include "tools/report/svg_writer.h"

#include <cmath>
#include <cstdio>

namespace slab::report {

std::string escape_xml(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string coordinate(double value) {
  if (!std::isfinite(value)) return "0";
  char text[64];
  std::snprintf(text, sizeof text, "%.2f", value);
  std::string s = text;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

SvgWriter::SvgWriter(double width, double height, const std::string& title, const std::string& css_class,
                     const std::string& data) {
  out_ = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"" + css_class + "\" width=\"" + coordinate(width) +
         "\" height=\"" + coordinate(height) + "\" viewBox=\"0 0 " + coordinate(width) + " " + coordinate(height) +
         "\" role=\"img\" aria-label=\"" + escape_xml(title) + "\"" + (data.empty() ? "" : " " + data) + ">\n<title>" +
         escape_xml(title) + "</title>\n";
}

void SvgWriter::line(Point from, Point to, const std::string& style) {
  out_ += "<line x1=\"" + coordinate(from.x) + "\" y1=\"" + coordinate(from.y) + "\" x2=\"" + coordinate(to.x) +
          "\" y2=\"" + coordinate(to.y) + "\" class=\"" + style + "\"/>\n";
}

void SvgWriter::polyline(const std::vector<Point>& points, const std::string& style, const std::string& attributes) {
  out_ += "<polyline class=\"" + style + "\" " + attributes + " points=\"";
  for (size_t i = 0; i < points.size(); ++i) {
    if (i > 0) out_ += ' ';
    out_ += coordinate(points[i].x);
    out_ += ',';
    out_ += coordinate(points[i].y);
  }
  out_ += "\"/>\n";
}

void SvgWriter::rect(double x, double y, double width, double height, const std::string& style,
                     const std::string& attributes) {
  out_ += "<rect x=\"" + coordinate(x) + "\" y=\"" + coordinate(y) + "\" width=\"" + coordinate(std::max(width, 0.0)) +
          "\" height=\"" + coordinate(std::max(height, 0.0)) + "\" " + style + (attributes.empty() ? "" : " " + attributes) +
          "/>\n";
}

void SvgWriter::circle(Point centre, double radius, const std::string& style) {
  out_ += "<circle cx=\"" + coordinate(centre.x) + "\" cy=\"" + coordinate(centre.y) + "\" r=\"" + coordinate(radius) +
          "\" " + style + "/>\n";
}

void SvgWriter::text(Point at, const std::string& content, const std::string& anchor, const std::string& css_class,
                     double rotate) {
  out_ += "<text x=\"" + coordinate(at.x) + "\" y=\"" + coordinate(at.y) + "\" text-anchor=\"" + anchor +
          "\" class=\"" + css_class + "\"";
  if (rotate != 0)
    out_ += " transform=\"rotate(" + coordinate(rotate) + " " + coordinate(at.x) + " " + coordinate(at.y) + ")\"";
  out_ += '>';
  out_ += escape_xml(content);
  out_ += "</text>\n";
}

void SvgWriter::open_group(const std::string& attributes) { out_ += "<g " + attributes + ">\n"; }
void SvgWriter::close_group() { out_ += "</g>\n"; }

std::string SvgWriter::finish() { return out_ + "</svg>\n"; }

}  // namespace slab::report
