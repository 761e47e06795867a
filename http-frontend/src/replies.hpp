// Small pieces every route handler of the http-frontend uses: JSON answers, refusals, header text.
#pragma once
#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "upload.hpp"

namespace framepipe::http {

void send_json(httplib::Response& res, int status, const nlohmann::json& body);
// {"error": message} with the refusal's status.
void refuse(httplib::Response& res, const Refusal& refusal);

// Without spaces and tabs at either end.
std::string_view trim(std::string_view text);
bool equals_ignoring_case(std::string_view a, std::string_view b);

}  // namespace framepipe::http
