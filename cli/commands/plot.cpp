#include "cli/commands/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "cli/commands/table.h"
#include "cli/commands/views.h"

namespace lf::cli {
namespace {

constexpr double kWidth = 720, kHeight = 440;
constexpr double kLeft = 70, kRight = 200, kTop = 40, kBottom = 50;  // margins; legend on the right
// The plot area in SVG pixels: x from kX0 to kX1, y from kY0 (bottom) up to kY1.
constexpr double kX0 = kLeft, kX1 = kWidth - kRight, kY0 = kHeight - kBottom, kY1 = kTop;
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

// Each params key and the values it takes (as JSON text, so 1 and "1" differ).
using SweptKeys = std::map<std::string, std::set<std::string>>;

// The trials the plot can draw (an adapter and an eval loss) and the keys swept over them.
struct Drawable {
  std::vector<const Json*> rows;
  SweptKeys swept;
};

Result<Drawable> CollectDrawable(const Json& rows) {
  if (!rows.is_array()) return InvalidArgument("the comparison has no rows to plot");
  Drawable drawable;
  for (const Json& row : rows) {
    const std::optional<jobs::TrialState> state = TrialStateOf(row);
    if (!state || !jobs::HasAdapter(*state) || !Member(row, "eval_loss").is_number()) continue;
    drawable.rows.push_back(&row);
    const Json& params = Member(row, "params");
    if (!params.is_object()) continue;
    for (const auto& [key, value] : params.items()) drawable.swept[key].insert(value.dump());
  }
  if (drawable.rows.empty()) {
    return FailedPrecondition("no trial with an adapter has an eval loss to plot yet (the job needs "
                              "data.eval); wait for the sweep, or plot another one");
  }
  return drawable;
}

// The key asked for, or else the first swept key (in key order) with several numeric values.
Result<std::string> ChooseXKey(const std::string& requested, const SweptKeys& swept) {
  std::string x = requested;
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
  return x;
}

struct Point {
  double x, loss;
};

// One line per combination of the other params ("train.lr=0.002", or the method when x is the
// only one), keyed and so coloured in name order, its points in x order.
struct Series {
  std::map<std::string, std::vector<Point>> lines;
  std::set<double> xs;
};

Result<Series> GroupIntoSeries(const std::vector<const Json*>& rows, const std::string& x) {
  Series series;
  for (const Json* row : rows) {
    const Json& params = Member(*row, "params");
    auto found = params.is_object() ? params.find(x) : params.end();
    if (!params.is_object() || found == params.end() || !found->is_number()) continue;
    const Json& v = *found;
    std::string name;
    for (const auto& [key, value] : params.items()) {
      if (key != x) name += (name.empty() ? "" : ", ") + key + "=" + FormatValue(value);
    }
    if (name.empty()) name = StringMember(*row, "method", "trials");
    series.lines[name].push_back({v.get<double>(), Member(*row, "eval_loss").get<double>()});
    series.xs.insert(v.get<double>());
  }
  if (series.lines.empty()) return InvalidArgument("'" + x + "' has no numeric values to plot");
  for (auto& [name, line] : series.lines) {
    std::sort(line.begin(), line.end(), [](const Point& a, const Point& b) { return a.x < b.x; });
  }
  return series;
}

struct Axes {
  Axis x, y;
};

// x over the values drawn, on a log scale when they span more than a factor of 10; y over the
// losses with a margin above and below.
Axes ChooseAxes(const Series& series) {
  double lo_loss = INFINITY, hi_loss = -INFINITY;
  for (const auto& [name, line] : series.lines) {
    for (const Point& p : line) {
      lo_loss = std::min(lo_loss, p.loss);
      hi_loss = std::max(hi_loss, p.loss);
    }
  }
  const double pad = std::max(1e-3, (hi_loss - lo_loss) * 0.08);
  const std::set<double>& xs = series.xs;
  return {{*xs.begin(), *xs.rbegin(), *xs.begin() > 0 && *xs.rbegin() / *xs.begin() > 10},
          {lo_loss - pad, hi_loss + pad, false}};
}

// The opening <svg> tag, the title, both axes with their ticks, grid lines and labels.
std::string SvgFrame(const Axes& axes, const std::set<double>& xs, const std::string& x,
                     const std::string& title) {
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Num(kWidth) +
                    "\" height=\"" + Num(kHeight) + "\" viewBox=\"0 0 " + Num(kWidth) + " " +
                    Num(kHeight) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + Num(kWidth / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" +
         Escape(title) + "</text>\n";
  svg += "<line x1=\"" + Num(kX0) + "\" y1=\"" + Num(kY0) + "\" x2=\"" + Num(kX1) + "\" y2=\"" +
         Num(kY0) + "\" stroke=\"black\"/>\n";
  svg += "<line x1=\"" + Num(kX0) + "\" y1=\"" + Num(kY0) + "\" x2=\"" + Num(kX0) + "\" y2=\"" +
         Num(kY1) + "\" stroke=\"black\"/>\n";
  for (double t : axes.x.Ticks(xs)) {
    const double px = axes.x.Map(t, kX0, kX1);
    svg += "<line x1=\"" + Num(px) + "\" y1=\"" + Num(kY0) + "\" x2=\"" + Num(px) + "\" y2=\"" +
           Num(kY0 + 5) + "\" stroke=\"black\"/><text x=\"" + Num(px) + "\" y=\"" + Num(kY0 + 18) +
           "\" text-anchor=\"middle\">" + Num(t) + "</text>\n";
  }
  const Axis& ay = axes.y;
  for (int i = 0; i <= 5; ++i) {
    const double v = ay.lo + (ay.hi - ay.lo) * i / 5, py = ay.Map(v, kY0, kY1);
    char label[32];
    std::snprintf(label, sizeof(label), "%.3f", v);
    svg += "<line x1=\"" + Num(kX0 - 5) + "\" y1=\"" + Num(py) + "\" x2=\"" + Num(kX1) +
           "\" y2=\"" + Num(py) + "\" stroke=\"#e0e0e0\"/><text x=\"" + Num(kX0 - 8) + "\" y=\"" +
           Num(py + 4) + "\" text-anchor=\"end\">" + label + "</text>\n";
  }
  svg += "<text x=\"" + Num((kX0 + kX1) / 2) + "\" y=\"" + Num(kHeight - 12) +
         "\" text-anchor=\"middle\">" + Escape(x) + (axes.x.log ? " (log scale)" : "") +
         "</text>\n";
  svg += "<text x=\"16\" y=\"" + Num((kY0 + kY1) / 2) +
         "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " + Num((kY0 + kY1) / 2) +
         ")\">eval loss</text>\n";
  return svg;
}

// Each series as a line with a dot (and tooltip) per trial, and its entry in the legend.
std::string SvgSeries(const Axes& axes, const Series& series, const std::string& x) {
  std::string svg;
  size_t color = 0;
  double legend_y = kTop + 10;
  for (const auto& [name, line] : series.lines) {
    const std::string c = kColors[color++ % std::size(kColors)];
    std::string path;
    for (const Point& p : line) {
      path += (path.empty() ? "" : " ") + Num(axes.x.Map(p.x, kX0, kX1)) + "," +
              Num(axes.y.Map(p.loss, kY0, kY1));
    }
    svg += "<polyline class=\"series\" fill=\"none\" stroke=\"" + c +
           "\" stroke-width=\"2\" points=\"" + path + "\"/>\n";
    for (const Point& p : line) {
      svg += "<circle cx=\"" + Num(axes.x.Map(p.x, kX0, kX1)) + "\" cy=\"" +
             Num(axes.y.Map(p.loss, kY0, kY1)) + "\" r=\"3.5\" fill=\"" + c + "\"><title>" +
             Escape(x) + "=" + Num(p.x) + ", " + Escape(name) + ": " + Num(p.loss) +
             "</title></circle>\n";
    }
    svg += "<line x1=\"" + Num(kX1 + 15) + "\" y1=\"" + Num(legend_y) + "\" x2=\"" + Num(kX1 + 35) +
           "\" y2=\"" + Num(legend_y) + "\" stroke=\"" + c + "\" stroke-width=\"2\"/><text x=\"" +
           Num(kX1 + 40) + "\" y=\"" + Num(legend_y + 4) + "\">" + Escape(name) + "</text>\n";
    legend_y += 18;
  }
  return svg;
}

}  // namespace

Result<std::string> ComparePlotSvg(const Json& rows, const PlotOptions& options) {
  LF_ASSIGN_OR_RETURN(const Drawable drawable, CollectDrawable(rows));
  LF_ASSIGN_OR_RETURN(const std::string x, ChooseXKey(options.x, drawable.swept));
  LF_ASSIGN_OR_RETURN(const Series series, GroupIntoSeries(drawable.rows, x));
  const Axes axes = ChooseAxes(series);
  const std::string title = options.title.empty() ? "eval loss by " + x : options.title;
  return SvgFrame(axes, series.xs, x, title) + SvgSeries(axes, series, x) + "</svg>\n";
}

}  // namespace lf::cli
