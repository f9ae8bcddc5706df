#include <chrono>
#include <string>

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include "temporal/api/taskqueue/v1/message.pb.h"

#include "flightdeck/temporal/client/grpc_status.h"
#include "flightdeck/temporal/client/request_metrics_internal.h"

namespace flightdeck::temporal::internal {

namespace {

namespace exp = grpc::experimental;

class RequestMetrics final : public exp::Interceptor {
 public:
  RequestMetrics(exp::ClientRpcInfo* info, MetricsHandler* metrics) : metrics_(metrics) {
    const std::string method = info->method() ? info->method() : "";
    operation_ = method.substr(method.rfind('/') + 1);
    long_ = operation_.rfind("Poll", 0) == 0;
  }

  void Intercept(exp::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(exp::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      start_ = std::chrono::steady_clock::now();
      auto* metadata = methods->GetSendInitialMetadata();
      auto ns = metadata->find("temporal-namespace");
      if (ns != metadata->end()) namespace_ = ns->second;
    }
    if (long_ && methods->QueryInterceptionHookPoint(exp::InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      // Polls carry their task queue, as the SDKs label them (a sticky
      // queue under the name of the queue it belongs to).
      const auto* request = static_cast<const google::protobuf::Message*>(methods->GetSendMessage());
      const auto* field = request ? request->GetDescriptor()->FindFieldByName("task_queue") : nullptr;
      if (field != nullptr && field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
        const auto& queue = static_cast<const ::temporal::api::taskqueue::v1::TaskQueue&>(
            request->GetReflection()->GetMessage(*request, field));
        task_queue_ = queue.normal_name().empty() ? queue.name() : queue.normal_name();
      }
    }
    if (methods->QueryInterceptionHookPoint(exp::InterceptionHookPoints::POST_RECV_STATUS)) {
      Record(*methods->GetRecvStatus());
    }
    methods->Proceed();
  }

 private:
  void Record(const grpc::Status& status) {
    MetricLabels labels;
    if (!namespace_.empty()) labels.emplace_back("namespace", namespace_);
    labels.emplace_back("operation", operation_);
    if (!task_queue_.empty()) labels.emplace_back("task_queue", task_queue_);
    const std::string prefix = long_ ? "temporal_long_request" : "temporal_request";
    metrics_->Count(prefix, labels, 1);
    metrics_->RecordMilliseconds(
        prefix + "_latency", labels,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count());
    // An empty long poll ends in DEADLINE_EXCEEDED by design: not a failure.
    if (!status.ok() && !(long_ && status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)) {
      labels.emplace_back("status_code", std::string(GrpcCodeName(status.error_code())));
      metrics_->Count(prefix + "_failure", labels, 1);
    }
  }

  MetricsHandler* metrics_;
  std::string operation_;
  std::string namespace_;
  std::string task_queue_;
  bool long_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

class RequestMetricsFactory final : public exp::ClientInterceptorFactoryInterface {
 public:
  explicit RequestMetricsFactory(std::shared_ptr<MetricsHandler> metrics) : metrics_(std::move(metrics)) {}
  exp::Interceptor* CreateClientInterceptor(exp::ClientRpcInfo* info) override {
    return new RequestMetrics(info, metrics_.get());
  }

 private:
  std::shared_ptr<MetricsHandler> metrics_;
};

}  // namespace

std::vector<std::unique_ptr<exp::ClientInterceptorFactoryInterface>> RequestMetricsInterceptors(
    std::shared_ptr<MetricsHandler> metrics) {
  std::vector<std::unique_ptr<exp::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<RequestMetricsFactory>(std::move(metrics)));
  return factories;
}

}  // namespace flightdeck::temporal::internal
