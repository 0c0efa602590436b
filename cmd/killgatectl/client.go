package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"killgate/tc3"
)

// The API client: signing (tc3), sending, and reading the envelope.

// client signs and sends API 3.0 requests.
type client struct {
	url, host     string
	id, key       string
	region, lang  string
	http          *http.Client
	now           func() time.Time
	requestClient string
}

func newClient(o *options, id, key string) (*client, error) {
	ep, https := o.endpoint, o.https
	switch {
	case strings.HasPrefix(ep, "https://"):
		ep, https = ep[len("https://"):], true
	case strings.HasPrefix(ep, "http://"):
		ep = ep[len("http://"):]
	}
	ep = strings.TrimSuffix(ep, "/")
	if ep == "" || strings.ContainsAny(ep, "/?# ") {
		return nil, fmt.Errorf("--endpoint %q: want HOST[:PORT] (API 3.0 serves everything on /)", o.endpoint)
	}
	scheme := "http"
	if https {
		scheme = "https"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // --insecure is the user's explicit choice
	}
	return &client{
		url: scheme + "://" + ep + "/", host: ep, id: id, key: key,
		region: o.region, lang: o.language,
		http: &http.Client{Timeout: o.timeout, Transport: tr},
		now:  time.Now, requestClient: "killgatectl/" + version,
	}, nil
}

// apiError is an error envelope.
type apiError struct {
	Code, Message, RequestID string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.RequestID) }

func printErr(w io.Writer, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		fmt.Fprintln(w, ae.Error())
		return
	}
	fmt.Fprintln(w, "killgatectl:", err)
}

// call sends one action and returns the Response object, or an *apiError.
func (c *client) call(ctx context.Context, action string, params map[string]json.RawMessage) (json.RawMessage, error) {
	if params == nil {
		params = map[string]json.RawMessage{}
	}
	body, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("encoding parameters: %w", err)
	}
	const ctype = "application/json"
	ts := c.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	// The signature covers Host: sign exactly the host[:port] we connect to
	// (a TLS proxy in front must pass Host through unchanged).
	req.Host = c.host
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", apiVersion)
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-TC-RequestClient", c.requestClient)
	if c.region != "" {
		req.Header.Set("X-TC-Region", c.region)
	}
	if c.lang != "" {
		req.Header.Set("X-TC-Language", c.lang)
	}
	req.Header.Set("Authorization", tc3.Sign(c.id, c.key, tc3.ServiceDBbrain,
		tc3.Request{Method: http.MethodPost, Host: c.host, ContentType: ctype, Body: body}, ts))
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	var env struct {
		Response json.RawMessage
	}
	if err := json.Unmarshal(raw, &env); err != nil || len(env.Response) == 0 {
		return nil, fmt.Errorf("%s answered HTTP %d without an API 3.0 envelope: %s", c.url, resp.StatusCode, snippet(raw))
	}
	var head struct {
		Error *struct {
			Code    string
			Message string
		}
		RequestId string
	}
	if err := json.Unmarshal(env.Response, &head); err != nil {
		return nil, fmt.Errorf("%s answered a malformed Response: %w", c.url, err)
	}
	if head.Error != nil && head.Error.Code != "" {
		return nil, &apiError{Code: head.Error.Code, Message: head.Error.Message, RequestID: head.RequestId}
	}
	return env.Response, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
