package gateway

import (
	"context"
	"errors"
	"io"
	"time"

	"golang.org/x/sync/semaphore"
)

// Request bodies are read only after the checks that need no body (see
// tencent.go and huawei.go), and the bytes of the bodies held at once are
// bounded process-wide (docs/operations.md#request-bodies): a body larger
// than freeBodyBytes takes its size from a shared budget before it is read
// and gives it back when its request ends. A request that cannot get its
// bytes within the configured wait is refused (RequestLimitExceeded on the
// Tencent door, 429 APIGW.0308 on the Huawei door), never left hanging.
const (
	// DefaultBodyBudget is the default Config.BodyBudget.
	DefaultBodyBudget = 64 << 20
	// MinBodyBudget is the smallest budget New accepts: a few of the
	// largest bodies (10 MB) must fit at once.
	MinBodyBudget = 32 << 20
	// DefaultBodyWait is the default Config.BodyWait.
	DefaultBodyWait = time.Second
	// freeBodyBytes: bodies up to this size (every API call's) do not
	// take from the budget; they cost what a connection costs.
	freeBodyBytes = 64 << 10
)

// errBodyBudget: the body budget stayed exhausted for the whole wait.
var errBodyBudget = errors.New("gateway: request body budget exhausted")

// errBodyTooLarge: the body is larger than the door's limit.
var errBodyTooLarge = errors.New("gateway: request body too large")

// bodyBudget is the process-wide budget of request-body bytes.
type bodyBudget struct {
	sem  *semaphore.Weighted
	wait time.Duration
}

func newBodyBudget(size int64, wait time.Duration) *bodyBudget {
	return &bodyBudget{sem: semaphore.NewWeighted(size), wait: wait}
}

// readBody reads a request body of at most limit bytes, taking the bytes
// it holds beyond freeBodyBytes from the budget. The returned release
// gives them back; call it once the body (and anything built on it) is no
// longer needed, whatever the error. Errors: errBodyTooLarge,
// errBodyBudget, or the read error.
func (b *bodyBudget) readBody(ctx context.Context, body io.Reader, contentLength, limit int64) (data []byte, release func(), err error) {
	var held int64
	release = func() {
		if held > 0 {
			b.sem.Release(held)
			held = 0
		}
	}
	take := func(n int64) error {
		if n <= 0 {
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, b.wait)
		defer cancel()
		if err := b.sem.Acquire(wctx, n); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errBodyBudget
		}
		held += n
		return nil
	}
	if contentLength > limit {
		return nil, release, errBodyTooLarge
	}
	if contentLength >= 0 {
		// The length is known: take it all before reading a byte, and
		// read into a buffer of exactly that size.
		if contentLength > freeBodyBytes {
			if err := take(contentLength); err != nil {
				return nil, release, err
			}
		}
		data = make([]byte, contentLength)
		if _, err := io.ReadFull(body, data); err != nil {
			return nil, release, err
		}
		return data, release, nil
	}
	// Unknown length (chunked): grow by doubling, taking every new
	// buffer's size beyond the free bytes and keeping the old buffers'
	// (they are garbage until the next collection): such a body counts
	// about 2.6 times its size, the price of not declaring it.
	data = make([]byte, 0, 4<<10)
	free := int64(freeBodyBytes)
	for {
		if len(data) == cap(data) {
			newCap := min(2*int64(cap(data)), limit+1)
			n := newCap - min(free, newCap)
			free -= newCap - n
			if err := take(n); err != nil {
				return nil, release, err
			}
			grown := make([]byte, len(data), newCap)
			copy(grown, data)
			data = grown
		}
		n, err := body.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if int64(len(data)) > limit {
			return nil, release, errBodyTooLarge
		}
		if err == io.EOF {
			return data, release, nil
		}
		if err != nil {
			return nil, release, err
		}
	}
}
