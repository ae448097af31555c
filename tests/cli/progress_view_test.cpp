// The image library reports byte progress through a sink; the CLI's ProgressView turns it into
// the lines a person sees when stderr is not a terminal.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cli/output.h"
#include "cli/progress_view.h"
#include "image/progress.h"

using sbx::cli::Output;
using sbx::cli::ProgressView;
using sbx::image::ProgressMeter;
using sbx::image::ProgressSink;

namespace {

struct Recorder {
  std::vector<std::string> lines;
  ProgressView view{Output(), false, [this](std::string_view l) { lines.emplace_back(l); }};
  ProgressSink sink() {
    return [this](const sbx::image::ProgressEvent& e) { view(e); };
  }
};

}  // namespace

TEST_CASE("without a terminal a task says each quarter once, and not done when it reached 100%", "[cli][progress]") {
  Recorder r;
  {
    ProgressMeter m(r.sink(), "unpacking layer 1/1 0123456789ab", 400);
    for (std::uint64_t d = 0; d <= 400; d += 10) m.update(d);
  }
  CHECK(r.lines == std::vector<std::string>{"unpacking layer 1/1 0123456789ab: 0% of 400 B",
                                            "unpacking layer 1/1 0123456789ab: 25% of 400 B",
                                            "unpacking layer 1/1 0123456789ab: 50% of 400 B",
                                            "unpacking layer 1/1 0123456789ab: 75% of 400 B",
                                            "unpacking layer 1/1 0123456789ab: 100% of 400 B"});
}

TEST_CASE("a task that ends short of 100% says done with its size", "[cli][progress]") {
  Recorder r;
  ProgressMeter m(r.sink(), "verifying layer 2/3 ba9876543210", 3 << 20);
  m.update(1 << 20);
  m.finish();
  m.finish();  // a second finish (and the destructor) report nothing more
  CHECK(r.lines == std::vector<std::string>{"verifying layer 2/3 ba9876543210: 0% of 3.0 MiB",
                                            "verifying layer 2/3 ba9876543210: 33% of 3.0 MiB",
                                            "verifying layer 2/3 ba9876543210: done, 3.0 MiB"});
}

TEST_CASE("a task that begins before the previous one ends keeps its own steps", "[cli][progress]") {
  // A registry pull makes the next blob's meter before the last one is destroyed.
  Recorder r;
  auto first = std::make_unique<ProgressMeter>(r.sink(), "pulling blob 1/2 aaaaaaaaaaaa", 100);
  first->update(50);
  auto second = std::make_unique<ProgressMeter>(r.sink(), "pulling blob 2/2 bbbbbbbbbbbb", 100);
  first.reset();
  second->update(100);
  second.reset();
  CHECK(r.lines == std::vector<std::string>{"pulling blob 1/2 aaaaaaaaaaaa: 0% of 100 B",
                                            "pulling blob 1/2 aaaaaaaaaaaa: 50% of 100 B",
                                            "pulling blob 2/2 bbbbbbbbbbbb: 0% of 100 B",
                                            "pulling blob 1/2 aaaaaaaaaaaa: done, 100 B",
                                            "pulling blob 2/2 bbbbbbbbbbbb: 100% of 100 B"});
}

TEST_CASE("a task counted in steps says them, not bytes", "[cli][progress]") {
  // mmdebstrap reports phases: "0% of 8 B" told a person nothing.
  Recorder r;
  {
    ProgressMeter m(r.sink(), "dev image (mmdebstrap)", 8, "phases");
    m.update(2);
    m.update(4);
  }
  CHECK(r.lines == std::vector<std::string>{"dev image (mmdebstrap): 0% of 8 phases",
                                            "dev image (mmdebstrap): 25% of 8 phases",
                                            "dev image (mmdebstrap): 50% of 8 phases",
                                            "dev image (mmdebstrap): done, 8 phases"});
}

TEST_CASE("with --json there is no progress sink, so the library reports nothing", "[cli][progress]") {
  CHECK_FALSE(Output(true).meter());
  CHECK(Output(false).meter());
}
