#include "flightdeck/common/trace_context.h"

#include <gtest/gtest.h>

namespace flightdeck {
namespace {

TEST(TraceContextTest, ParsesAndFormatsW3cTraceparent) {
  const std::string header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto context = TraceContext::FromTraceparent(header, "vendor=1");
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(context->span_id, "00f067aa0ba902b7");
  EXPECT_TRUE(context->sampled);
  EXPECT_EQ(context->tracestate, "vendor=1");
  EXPECT_EQ(context->ToTraceparent(), header);
  auto unsampled = TraceContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled.has_value());
  EXPECT_FALSE(unsampled->sampled);
}

TEST(TraceContextTest, MalformedHeadersAreIgnored) {
  for (const char* bad : {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                          "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"}) {
    EXPECT_FALSE(TraceContext::FromTraceparent(bad).has_value()) << bad;
  }
  // A later version may append fields.
  EXPECT_TRUE(TraceContext::FromTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
}

TEST(TraceContextTest, ChildrenKeepTheTraceAndDerivedIdsAreStable) {
  const TraceContext parent{.trace_id = NewTraceId(), .span_id = NewSpanId(), .sampled = false};
  const TraceContext child = parent.NewChild();
  EXPECT_EQ(child.trace_id, parent.trace_id);
  EXPECT_NE(child.span_id, parent.span_id);
  EXPECT_FALSE(child.sampled);
  EXPECT_TRUE(child.valid());
  EXPECT_EQ(TraceIdFrom("run-1"), TraceIdFrom("run-1"));
  EXPECT_NE(TraceIdFrom("run-1"), TraceIdFrom("run-2"));
  EXPECT_EQ(SpanIdFrom("run-1").size(), 16u);
}

TEST(TraceContextTest, TheCurrentContextNestsPerThread) {
  EXPECT_EQ(CurrentTraceContext(), nullptr);
  {
    ScopedTraceContext outer({.trace_id = NewTraceId(), .span_id = "1111111111111111"});
    {
      ScopedTraceContext inner({.trace_id = NewTraceId(), .span_id = "2222222222222222"});
      EXPECT_EQ(CurrentTraceContext()->span_id, "2222222222222222");
    }
    EXPECT_EQ(CurrentTraceContext()->span_id, "1111111111111111");
  }
  EXPECT_EQ(CurrentTraceContext(), nullptr);
}

}  // namespace
}  // namespace flightdeck
