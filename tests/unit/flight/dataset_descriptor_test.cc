#include "flightdeck/flight/dataset_descriptor.h"

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck::flight {
namespace {

namespace fl = arrow::flight;

TEST(DatasetDescriptorTest, PathAndCommandNameTheSameDataset) {
  ASSERT_OK_AND_ASSIGN(auto by_path,
                       ParseDatasetDescriptor(fl::FlightDescriptor::Path({"acme", "orders", "3"})));
  ASSERT_OK_AND_ASSIGN(auto by_command,
                       ParseDatasetDescriptor(fl::FlightDescriptor::Command(
                           R"({"tenant":"acme","dataset":"orders","partition":"3",)"
                           R"("durable":true,"ttl_seconds":1.5,"endpoints":4})")));
  EXPECT_EQ(by_path.path(), "acme/orders/3");
  EXPECT_EQ(by_command.path(), by_path.path());
  EXPECT_FALSE(by_path.durable);
  EXPECT_LT(by_path.ttl.count(), 0);
  EXPECT_TRUE(by_command.durable);
  EXPECT_EQ(by_command.ttl.count(), 1500);
  EXPECT_EQ(by_path.endpoints, 1);
  EXPECT_EQ(by_command.endpoints, 4);
}

TEST(DatasetDescriptorTest, BadDescriptorsNameTheProblem) {
  const std::vector<std::pair<fl::FlightDescriptor, std::string>> cases = {
      {fl::FlightDescriptor::Path({"acme", "orders"}), "3 elements"},
      {fl::FlightDescriptor::Path({"acme", "", "0"}), "dataset ''"},
      {fl::FlightDescriptor::Path({"a b", "d", "0"}), "tenant 'a b'"},
      {fl::FlightDescriptor::Command("[1]"), "JSON object"},
      {fl::FlightDescriptor::Command(R"({"tenant":"a","dataset":"d"})"), "lacks 'partition'"},
      {fl::FlightDescriptor::Command(R"({"tenant":"a","dataset":"d","partition":0})"),
       "'partition' must be a string"},
      {fl::FlightDescriptor::Command(R"({"tenant":"a","dataset":"d","partition":"0","x":1})"),
       "unknown field 'x'"},
      {fl::FlightDescriptor::Command(
           R"({"tenant":"a","dataset":"d","partition":"0","ttl_seconds":-1})"),
       "ttl_seconds"},
      {fl::FlightDescriptor::Command(
           R"({"tenant":"a","dataset":"d","partition":"0","endpoints":0})"),
       "'endpoints' must be a whole number from 1 to 64, got 0"},
      {fl::FlightDescriptor::Command(
           R"({"tenant":"a","dataset":"d","partition":"0","endpoints":65})"),
       "got 65"},
      {fl::FlightDescriptor::Command(
           R"({"tenant":"a","dataset":"d","partition":"0","endpoints":1.5})"),
       "got 1.5"},
  };
  for (const auto& [descriptor, message] : cases) {
    auto parsed = ParseDatasetDescriptor(descriptor);
    ASSERT_RAISES(Invalid, parsed);
    EXPECT_NE(parsed.status().message().find(message), std::string::npos)
        << parsed.status().ToString();
  }
}

}  // namespace
}  // namespace flightdeck::flight
