// Micro-benchmarks of the HTTP/1.1 request parser, with baselines over the same bytes measured in
// the same run so the parser's cost reads as a ratio (timings on these VMs are noisy).
//
//   bazel run --config=opt //examples/httpd:http_parser_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "examples/httpd/http_parser.h"

namespace coronet::http {
namespace {

// A typical browser-ish GET of about 200 bytes.
const std::string kGet200 =
    "GET /static/css/site.css?v=42 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
    "Accept: text/css,*/*;q=0.1\r\n"
    "Accept-Encoding: gzip, deflate\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

// What wrk sends by default.
const std::string kWrk = "GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n";

// A small form POST with a Content-Length body.
const std::string kPost =
    "POST /api/items HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\n"
    "Content-Length: 27\r\n\r\n{\"name\":\"coronet\",\"n\":1234}";

// A chunked upload of three chunks (decoded in place, so every iteration restores the bytes).
const std::string kChunked =
    "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "10\r\n0123456789abcdef\r\n10;ext=1\r\n0123456789abcdef\r\n8\r\n01234567\r\n0\r\n\r\n";

// Parses `text` once per iteration; one request each.
void parse_loop(benchmark::State& state, const std::string& text) {
  std::vector<char> buf(text.begin(), text.end());
  Parser parser;
  Request req;
  for (auto _ : state) {
    Result r = parser.parse(buf, req);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(req.header_count);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}

// The typical 200-byte GET, whole in one read.
void BM_ParseGet200(benchmark::State& state) { parse_loop(state, kGet200); }
BENCHMARK(BM_ParseGet200);

// The wrk request, whole in one read.
void BM_ParseWrkGet(benchmark::State& state) { parse_loop(state, kWrk); }
BENCHMARK(BM_ParseWrkGet);

// A POST with a 27-byte Content-Length body.
void BM_ParsePost(benchmark::State& state) { parse_loop(state, kPost); }
BENCHMARK(BM_ParsePost);

// 16 pipelined wrk requests in one buffer, as a keep-alive client with pipelining sends them.
void BM_ParseWrkPipelined16(benchmark::State& state) {
  std::string text;
  for (int i = 0; i < 16; ++i) text += kWrk;
  std::vector<char> buf(text.begin(), text.end());
  Parser parser;
  Request req;
  for (auto _ : state) {
    std::span<char> rest(buf);
    while (!rest.empty()) {
      Result r = parser.parse(rest, req);
      benchmark::DoNotOptimize(req.path);
      rest = rest.subspan(r.consumed);
    }
  }
  state.SetItemsProcessed(state.iterations() * 16);
}
BENCHMARK(BM_ParseWrkPipelined16);

// The 200-byte GET arriving in two reads (split mid-header): the parser resumes, not restarts.
void BM_ParseGet200TwoReads(benchmark::State& state) {
  std::vector<char> buf(kGet200.begin(), kGet200.end());
  Parser parser;
  Request req;
  const std::size_t half = buf.size() / 2;
  for (auto _ : state) {
    Result r = parser.parse(std::span<char>(buf).first(half), req);
    benchmark::DoNotOptimize(r);
    r = parser.parse(buf, req);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseGet200TwoReads);

// Chunked upload: the copy restoring the bytes is included; BM_Baseline_CopyChunked is that copy.
void BM_ParseChunked(benchmark::State& state) {
  std::vector<char> buf(kChunked.size());
  Parser parser;
  Request req;
  for (auto _ : state) {
    std::memcpy(buf.data(), kChunked.data(), kChunked.size());
    Result r = parser.parse(buf, req);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(req.body);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseChunked);

// Baseline: the copy BM_ParseChunked does each iteration.
void BM_Baseline_CopyChunked(benchmark::State& state) {
  std::vector<char> buf(kChunked.size());
  for (auto _ : state) {
    std::memcpy(buf.data(), kChunked.data(), kChunked.size());
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Baseline_CopyChunked);

// Baseline: one memchr over all bytes of the request for a byte that is not there (the least any
// parser must do: look at every byte once).
void memchr_all(benchmark::State& state, const std::string& text) {
  std::vector<char> buf(text.begin(), text.end());
  for (auto _ : state) {
    benchmark::DoNotOptimize(buf.data());
    const void* p = std::memchr(buf.data(), '\0', buf.size());
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}

// Baseline: memchr for every '\n' of the request (finding the lines, nothing else).
void memchr_lines(benchmark::State& state, const std::string& text) {
  std::vector<char> buf(text.begin(), text.end());
  for (auto _ : state) {
    benchmark::DoNotOptimize(buf.data());
    const char* p = buf.data();
    const char* end = p + buf.size();
    std::size_t lines = 0;
    while (const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p))) {
      p = static_cast<const char*>(nl) + 1;
      ++lines;
    }
    benchmark::DoNotOptimize(lines);
  }
  state.SetItemsProcessed(state.iterations());
}

// Baseline for BM_ParseGet200: one memchr over its bytes.
void BM_Baseline_MemchrGet200(benchmark::State& state) { memchr_all(state, kGet200); }
BENCHMARK(BM_Baseline_MemchrGet200);

// Baseline for BM_ParseGet200: its lines found with memchr.
void BM_Baseline_MemchrLinesGet200(benchmark::State& state) { memchr_lines(state, kGet200); }
BENCHMARK(BM_Baseline_MemchrLinesGet200);

// Baseline for BM_ParseWrkGet: one memchr over its bytes.
void BM_Baseline_MemchrWrk(benchmark::State& state) { memchr_all(state, kWrk); }
BENCHMARK(BM_Baseline_MemchrWrk);

// Baseline for BM_ParseWrkGet: its lines found with memchr.
void BM_Baseline_MemchrLinesWrk(benchmark::State& state) { memchr_lines(state, kWrk); }
BENCHMARK(BM_Baseline_MemchrLinesWrk);

// Response side for scale: formatting a small 200 response with a body.
void BM_WriteResponse(benchmark::State& state) {
  std::array<char, 512> out;
  const Header extra[] = {{"Server", "coronet"}};
  ResponseHead head;
  head.content_type = "text/plain";
  head.headers = extra;
  for (auto _ : state) {
    ResponseWriter w(out);
    bool ok = w.write(head, "Hello, World!");
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WriteResponse);

}  // namespace
}  // namespace coronet::http
