#include "cli/commands/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "cli/commands/table.h"

namespace lf::cli {
namespace {

constexpr double kWidth = 720, kHeight = 440;
constexpr double kLeft = 70, kRight = 200, kTop = 40, kBottom = 50;  // margins; legend on the right
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

struct Axis {
  double lo, hi;
  bool log;
  double Map(double v, double from, double to) const {
    const double a = log ? std::log10(lo) : lo, b = log ? std::log10(hi) : hi;
    const double t = b > a ? ((log ? std::log10(v) : v) - a) / (b - a) : 0.5;
    return from + t * (to - from);
  }
  std::vector<double> Ticks(const std::set<double>& values) const {
    if (log || values.size() <= 8) return {values.begin(), values.end()};
    std::vector<double> out;
    for (int i = 0; i <= 5; ++i) out.push_back(lo + (hi - lo) * i / 5);
    return out;
  }
};

}  // namespace

Result<std::string> ComparePlotSvg(const Json& rows, const PlotOptions& options) {
  // The swept keys and their values over the drawable trials.
  struct Point {
    double x, loss;
    std::string series;
  };
  std::map<std::string, std::set<std::string>> swept;
  std::vector<const Json*> drawable;
  if (!rows.is_array()) return InvalidArgument("the comparison has no rows to plot");
  for (const Json& row : rows) {
    if (StringMember(row, "state") != "completed" || !Member(row, "eval_loss").is_number()) continue;
    drawable.push_back(&row);
    const Json& params = Member(row, "params");
    if (!params.is_object()) continue;
    for (const auto& [key, value] : params.items()) swept[key].insert(value.dump());
  }
  if (drawable.empty()) {
    return FailedPrecondition("no completed trial has an eval loss to plot yet (the job needs "
                              "data.eval); wait for the sweep, or plot another one");
  }
  std::string x = options.x;
  if (x.empty()) {
    for (const auto& [key, values] : swept) {
      const bool numeric = std::all_of(values.begin(), values.end(), [](const std::string& v) {
        return Json::parse(v).is_number();
      });
      if (numeric && values.size() > 1) {
        x = key;
        break;
      }
    }
  }
  if (x.empty() || !swept.count(x)) {
    std::string keys;
    for (const auto& [key, values] : swept) keys += (keys.empty() ? "" : ", ") + key;
    return InvalidArgument(
        x.empty() ? "no swept key has several numeric values to put on the x axis"
                  : "'" + x + "' is not a swept key of this sweep" +
                        (keys.empty() ? std::string() : " (swept: " + keys + ")"));
  }
  std::vector<Point> points;
  std::set<double> xs;
  std::set<std::string> series_names;
  for (const Json* row : drawable) {
    const Json& params = Member(*row, "params");
    auto found = params.is_object() ? params.find(x) : params.end();
    if (!params.is_object() || found == params.end() || !found->is_number()) continue;
    const Json& v = *found;
    std::string series;
    for (const auto& [key, value] : params.items()) {
      if (key != x) series += (series.empty() ? "" : ", ") + key + "=" + FormatValue(value);
    }
    if (series.empty()) series = StringMember(*row, "method", "trials");
    points.push_back({v.get<double>(), Member(*row, "eval_loss").get<double>(), series});
    xs.insert(v.get<double>());
    series_names.insert(series);
  }
  if (points.empty()) return InvalidArgument("'" + x + "' has no numeric values to plot");
  double lo_loss = INFINITY, hi_loss = -INFINITY;
  for (const Point& p : points) {
    lo_loss = std::min(lo_loss, p.loss);
    hi_loss = std::max(hi_loss, p.loss);
  }
  const double pad = std::max(1e-3, (hi_loss - lo_loss) * 0.08);
  const Axis ax{*xs.begin(), *xs.rbegin(), *xs.begin() > 0 && *xs.rbegin() / *xs.begin() > 10};
  const Axis ay{lo_loss - pad, hi_loss + pad, false};
  const double x0 = kLeft, x1 = kWidth - kRight, y0 = kHeight - kBottom, y1 = kTop;

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Num(kWidth) +
                    "\" height=\"" + Num(kHeight) + "\" viewBox=\"0 0 " + Num(kWidth) + " " +
                    Num(kHeight) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + Num(kWidth / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" +
         Escape(options.title.empty() ? "eval loss by " + x : options.title) + "</text>\n";
  svg += "<line x1=\"" + Num(x0) + "\" y1=\"" + Num(y0) + "\" x2=\"" + Num(x1) + "\" y2=\"" +
         Num(y0) + "\" stroke=\"black\"/>\n";
  svg += "<line x1=\"" + Num(x0) + "\" y1=\"" + Num(y0) + "\" x2=\"" + Num(x0) + "\" y2=\"" +
         Num(y1) + "\" stroke=\"black\"/>\n";
  for (double t : ax.Ticks(xs)) {
    const double px = ax.Map(t, x0, x1);
    svg += "<line x1=\"" + Num(px) + "\" y1=\"" + Num(y0) + "\" x2=\"" + Num(px) + "\" y2=\"" +
           Num(y0 + 5) + "\" stroke=\"black\"/><text x=\"" + Num(px) + "\" y=\"" + Num(y0 + 18) +
           "\" text-anchor=\"middle\">" + Num(t) + "</text>\n";
  }
  for (int i = 0; i <= 5; ++i) {
    const double v = ay.lo + (ay.hi - ay.lo) * i / 5, py = ay.Map(v, y0, y1);
    char label[32];
    std::snprintf(label, sizeof(label), "%.3f", v);
    svg += "<line x1=\"" + Num(x0 - 5) + "\" y1=\"" + Num(py) + "\" x2=\"" + Num(x1) + "\" y2=\"" +
           Num(py) + "\" stroke=\"#e0e0e0\"/><text x=\"" + Num(x0 - 8) + "\" y=\"" +
           Num(py + 4) + "\" text-anchor=\"end\">" + label + "</text>\n";
  }
  svg += "<text x=\"" + Num((x0 + x1) / 2) + "\" y=\"" + Num(kHeight - 12) +
         "\" text-anchor=\"middle\">" + Escape(x) + (ax.log ? " (log scale)" : "") + "</text>\n";
  svg += "<text x=\"16\" y=\"" + Num((y0 + y1) / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
         Num((y0 + y1) / 2) + ")\">eval loss</text>\n";
  size_t color = 0;
  double legend_y = kTop + 10;
  for (const std::string& name : series_names) {
    std::vector<Point> line;
    for (const Point& p : points) {
      if (p.series == name) line.push_back(p);
    }
    std::sort(line.begin(), line.end(), [](const Point& a, const Point& b) { return a.x < b.x; });
    const std::string c = kColors[color++ % std::size(kColors)];
    std::string path;
    for (const Point& p : line) {
      path += (path.empty() ? "" : " ") + Num(ax.Map(p.x, x0, x1)) + "," + Num(ay.Map(p.loss, y0, y1));
    }
    svg += "<polyline class=\"series\" fill=\"none\" stroke=\"" + c +
           "\" stroke-width=\"2\" points=\"" + path + "\"/>\n";
    for (const Point& p : line) {
      svg += "<circle cx=\"" + Num(ax.Map(p.x, x0, x1)) + "\" cy=\"" + Num(ay.Map(p.loss, y0, y1)) +
             "\" r=\"3.5\" fill=\"" + c + "\"><title>" + Escape(x) + "=" + Num(p.x) + ", " +
             Escape(name) + ": " + Num(p.loss) + "</title></circle>\n";
    }
    svg += "<line x1=\"" + Num(x1 + 15) + "\" y1=\"" + Num(legend_y) + "\" x2=\"" + Num(x1 + 35) +
           "\" y2=\"" + Num(legend_y) + "\" stroke=\"" + c + "\" stroke-width=\"2\"/><text x=\"" +
           Num(x1 + 40) + "\" y=\"" + Num(legend_y + 4) + "\">" + Escape(name) + "</text>\n";
    legend_y += 18;
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace lf::cli
