// `flightdeck timeline ID --output FILE.svg|FILE.html`: a Gantt chart of one
// pipeline run drawn from its Temporal history: a lane per partition (and
// one for the run's own steps), a bar per activity from its start to its
// end, coloured by activity; retried attempts and recomputed partitions are
// marked, and the title gives the run's rows per second. SVG, or HTML with
// the SVG and a table of the activities.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "flightdeck/cli/commands.h"
#include "flightdeck/cli/run_history.h"
#include "flightdeck/cli/temporal_options.h"
#include "flightdeck/common/durable_file.h"
#include "flightdeck/pipeline/activities.h"

namespace flightdeck::cli {

namespace {

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Colour(const std::string& activity) {
  static const std::map<std::string, std::string> kColours = {
      {pipeline::kPrepareActivity, "#8e7cc3"}, {pipeline::kPartitionActivity, "#3d85c6"},
      {pipeline::kCombineActivity, "#e69138"}, {pipeline::kLoadActivity, "#6aa84f"},
      {pipeline::kCommitActivity, "#38761d"},  {"flightdeck.python_stage", "#f1c232"}};
  auto it = kColours.find(activity);
  return it == kColours.end() ? "#999999" : it->second;
}

std::string Svg(const Run& run) {
  int partitions = 0;
  for (const auto& bar : run.bars) partitions = std::max(partitions, bar.partition + 1);
  const int lanes = partitions + 1;
  const double left = 110, width = 900, lane_height = 22, top = 50;
  const double height = top + lanes * lane_height + 60;
  const double span = std::max(run.duration_ms, 1.0);
  auto x = [&](double ms) { return left + width * ms / span; };
  std::ostringstream svg;
  char title[256];
  const double rate = run.duration_ms > 0 ? run.source_rows / (run.duration_ms / 1000.0) : 0;
  std::snprintf(title, sizeof(title), "%s: %s in %.2f s, %lld source rows, %.2f M rows/s", run.id.c_str(),
                run.status.c_str(), run.duration_ms / 1000.0, static_cast<long long>(run.source_rows), rate / 1e6);
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << left + width + 20 << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<title>" << Escape(title) << "</title>\n"
      << "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">" << Escape(title) << "</text>\n";
  for (int lane = 0; lane < lanes; ++lane) {
    const double y = top + lane * lane_height;
    const std::string name = lane == 0 ? "run" : "partition " + std::to_string(lane - 1);
    svg << "<text x=\"10\" y=\"" << y + 15 << "\">" << name << "</text>\n"
        << "<line x1=\"" << left << "\" y1=\"" << y + lane_height << "\" x2=\"" << left + width << "\" y2=\""
        << y + lane_height << "\" stroke=\"#eee\"/>\n";
  }
  for (const auto& bar : run.bars) {
    const double y = top + (bar.partition + 1) * lane_height + 3;
    const double x0 = x(bar.start_ms), w = std::max(x(bar.end_ms) - x0, 1.0);
    const bool retried = bar.attempt > 1;
    const bool failed = bar.outcome == "failed" || bar.outcome == "timed out" || bar.outcome == "canceled";
    const std::string stroke = failed ? "#cc0000"
                               : retried                                              ? "#cc0000"
                               : bar.recompute                                        ? "#ff6d01"
                                                                                      : "none";
    std::ostringstream label;
    label << bar.activity << (bar.partition >= 0 ? " p" + std::to_string(bar.partition) : "") << ": " << bar.outcome
          << " in " << (bar.end_ms - bar.start_ms) << " ms";
    if (retried) label << ", attempt " << bar.attempt;
    if (bar.recompute) label << ", recompute";
    if (bar.rows >= 0) label << ", " << bar.rows << " rows";
    svg << "<rect class=\"activity\" data-activity=\"" << Escape(bar.activity) << "\" data-partition=\""
        << bar.partition << "\" data-attempt=\"" << bar.attempt << "\" data-outcome=\"" << bar.outcome
        << "\" data-recompute=\"" << (bar.recompute ? "true" : "false") << "\" x=\"" << x0 << "\" y=\"" << y
        << "\" width=\"" << w << "\" height=\"" << lane_height - 6 << "\" fill=\"" << Colour(bar.activity)
        << "\" stroke=\"" << stroke << "\" stroke-width=\"2\"><title>" << Escape(label.str()) << "</title></rect>\n";
  }
  // Time axis and legend.
  const double axis = top + lanes * lane_height + 15;
  for (int tick = 0; tick <= 4; ++tick) {
    const double ms = span * tick / 4;
    char text[32];
    std::snprintf(text, sizeof(text), "%.2f s", ms / 1000.0);
    svg << "<text x=\"" << x(ms) << "\" y=\"" << axis << "\" text-anchor=\"middle\">" << text << "</text>\n";
  }
  double legend_x = left;
  for (const char* activity : {pipeline::kPrepareActivity, pipeline::kPartitionActivity, "flightdeck.python_stage",
                               pipeline::kCombineActivity, pipeline::kLoadActivity, pipeline::kCommitActivity}) {
    svg << "<rect x=\"" << legend_x << "\" y=\"" << axis + 15 << "\" width=\"12\" height=\"12\" fill=\""
        << Colour(activity) << "\"/><text x=\"" << legend_x + 16 << "\" y=\"" << axis + 25 << "\">" << activity
        << "</text>\n";
    legend_x += 150;
  }
  svg << "<text x=\"" << left << "\" y=\"" << axis + 45
      << "\">red outline: failed or retried attempt; orange: a partition recomputed</text>\n</svg>\n";
  return svg.str();
}

std::string Html(const Run& run) {
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>flightdeck timeline " << Escape(run.id)
       << "</title></head>\n<body>\n" << Svg(run)
       << "<table border=\"1\" cellpadding=\"3\"><tr><th>activity</th><th>partition</th><th>start ms</th>"
          "<th>duration ms</th><th>attempt</th><th>outcome</th><th>rows</th></tr>\n";
  for (const auto& bar : run.bars) {
    html << "<tr><td>" << Escape(bar.activity) << "</td><td>" << (bar.partition >= 0 ? std::to_string(bar.partition) : "")
         << "</td><td>" << bar.start_ms << "</td><td>" << bar.end_ms - bar.start_ms << "</td><td>" << bar.attempt
         << "</td><td>" << bar.outcome << (bar.recompute ? " (recompute)" : "") << "</td><td>"
         << (bar.rows >= 0 ? std::to_string(bar.rows) : "") << "</td></tr>\n";
  }
  html << "</table>\n</body></html>\n";
  return html.str();
}

}  // namespace

void AddTimelineCommand(CLI::App& app) {
  auto id = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "timeline", "Draw one pipeline run from its history: a Gantt chart of partitions and stages (SVG or HTML)");
  cmd->add_option("id", *id, "Workflow id of the run")->required();
  cmd->add_option("-o,--output", *output, "FILE.svg or FILE.html")->required();
  auto temporal_flags = AddTemporalOptions(cmd);
  cmd->callback([id, output, temporal_flags] {
    const bool svg = output->size() > 4 && output->substr(output->size() - 4) == ".svg";
    const bool html = output->size() > 5 && output->substr(output->size() - 5) == ".html";
    if (!svg && !html) throw CommandFailed("--output must end in .svg or .html, got " + *output, kExitUsage);
    const TemporalTarget target = ResolveTemporalOrExit(*temporal_flags);
    auto client = ConnectClientOrExit(target);
    auto history = client->GetHistory({.workflow_id = *id});
    Check(history.status(), "history of " + *id);
    Check(target.codecs.DecodeAll(&*history), "decoding the history of " + *id);
    const Run run = ReadRun(*id, *history);
    Check(WriteFileAtomically(*output, svg ? Svg(run) : Html(run)), "writing " + *output);
    std::cout << "timeline of " << *id << " (" << run.bars.size() << " activities, " << run.status << ") in "
              << *output << std::endl;
  });
}

}  // namespace flightdeck::cli
