// Package gateway is killgate's HTTP front, and nothing else: it turns
// requests into calls of actions and their results into answers. It serves
// two doors and the operator endpoints on one gin engine:
//
//   - the Tencent Cloud API 3.0 door (DBbrain 2021-05-27) on "/", where
//     X-TC-Action (or Action) picks an action of the Tencent registry;
//   - the Huawei GaussDB(for MySQL) v3 door under /v3/, where each action of
//     the Huawei registry is mounted on its own REST route;
//   - /healthz, /readyz and /metrics (ops.go, metrics.go), on the main
//     listener or a listener of their own.
//
// It is the only package that imports gin. It may import actions (the API:
// registries, the strict decoder, errors and their codes, the caller in the
// context), tc3 (signatures), ratelimit (the Allower), and HTTP, metrics and
// logging libraries. It never imports killtask or database/sql: it reaches
// the engine and the store only through actions (make deps checks this).
//
// # Tencent door
//
// The stages run in this order, and the first that fails answers
// (tencent.go; docs/errors.md lists them with their codes). Everything that
// needs no body comes before the body is read:
//
//  1. access log and request id (one line per request), then recover (a
//     panic is an InternalError envelope);
//  2. method (UnsupportedProtocol), content type (UnsupportedProtocol);
//  3. declared size: Content-Length of a POST, query of a GET
//     (RequestSizeLimitExceeded) — a signature v1 form POST reads its body
//     here, since its common parameters are in it;
//  4. Action (MissingParameter, InvalidAction), Version (MissingParameter,
//     NoSuchVersion);
//  5. the signature checks that need no body: Authorization shape, a
//     configured SecretId, no session token, the timestamp window
//     (AuthFailure.*, MissingParameter, InvalidParameter);
//  6. the body, within the door's size limit and the process-wide body
//     budget (RequestSizeLimitExceeded, RequestLimitExceeded; body.go);
//  7. the signature over the request and its body (AuthFailure.*);
//  8. the credential's action allow-list (UnauthorizedOperation);
//  9. the rate limit per (SecretId, Action) (RequestLimitExceeded);
//  10. the parameters: body JSON, or the flattened query or form, decoded
//     strictly into the action's request (UnknownParameter,
//     MissingParameter, InvalidParameter, InvalidParameterValue);
//  11. the action, under its timeout (instance scopes are checked there);
//  12. the envelope (writeTC): always HTTP 200 and application/json,
//     {"Response":{…,"RequestId"}} or {"Response":{"Error":{"Code","Message"},"RequestId"}}.
//
// # Huawei door
//
// huawei.go and huawei_auth.go, in this order (docs/huawei.md):
//
//  1. access log and request id (X-Request-Id on every answer), recover;
//  2. route: an unknown path or method under /v3/ is 404 APIGW.0101;
//  3. declared size (Content-Length over 1 MB: 413 APIGW.0201);
//  4. the authentication that needs no body: X-Auth-Token completely, or
//     for SDK-HMAC-SHA256 the header's shape, a configured AK and X-Sdk-Date
//     (401 APIGW.0301);
//  5. the body (1 MB; body budget: 429 APIGW.0308);
//  6. the AK/SK signature over the request and its body (401 APIGW.0301);
//  7. project id: shape (400 DBS.200001), the configured one and
//     X-Project-Id (403 DBS.200010);
//  8. the rate limit per (caller, action) (429 APIGW.0308);
//  9. the parameters: the route's path parameters plus the query of a GET
//     or the JSON body of a POST, decoded strictly into the action's request
//     (400 DBS.200001; an empty POST body is 400 DBS.200006);
//  10. the action, under its timeout (unknown instance 404 DBS.200002,
//     unknown node 404 DBS.200013);
//  11. the answer (writeHuawei): the action's JSON object, or its file (the
//     CSV or JSON download) with its own content type; errors as
//     {"error_code","error_msg"} with Huawei's HTTP status.
//
// # Rendering
//
// Pipeline stages and actions return (response, error) and never write.
// render.go has one renderer per door; an *actions.Error's code and public
// message become the door's error (huaweiError is the only place that maps
// API errors to Huawei codes and statuses), anything else is an internal
// error whose text is logged, never sent. Both record the error for the
// access line.
package gateway
