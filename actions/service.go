package actions

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"sync/atomic"

	"go.uber.org/zap"

	"killgate/killtask"
)

// Service holds what the actions need.
type Service struct {
	eng *killtask.Engine
	log *zap.Logger

	sqlExecTTL atomic.Int64 // KillMySqlThreads SqlExecId lifetime in ns; 0 = DefaultSqlExecTTL
}

// NewService builds the action service over an engine.
func NewService(eng *killtask.Engine, log *zap.Logger) *Service {
	return &Service{eng: eng, log: log}
}

// Caller is the authenticated identity of a request and its scope.
type Caller struct {
	ID        string   // SecretId (Tencent) or AK / token name (Huawei)
	Instances []string // allowed instance ids; empty or "*" = all
}

// MayUse reports whether the caller may act on the instance.
func (c Caller) MayUse(instanceID string) bool {
	return len(c.Instances) == 0 || slices.Contains(c.Instances, "*") || slices.Contains(c.Instances, instanceID)
}

// ctxKey is the context key of the request-scoped value of type T.
type ctxKey[T any] struct{}

// withValue returns ctx carrying v, found again by valueFrom[T].
func withValue[T any](ctx context.Context, v T) context.Context {
	return context.WithValue(ctx, ctxKey[T]{}, v)
}

// valueFrom returns the T in ctx (zero if none).
func valueFrom[T any](ctx context.Context) T {
	v, _ := ctx.Value(ctxKey[T]{}).(T)
	return v
}

// WithCaller returns ctx carrying the caller.
func WithCaller(ctx context.Context, c Caller) context.Context { return withValue(ctx, c) }

// CallerFrom returns the caller in ctx (zero if none).
func CallerFrom(ctx context.Context) Caller { return valueFrom[Caller](ctx) }

// products valid for the MySQL family of actions.
var mysqlProducts = []string{"mysql", "cynosdb"}

// instance resolves an InstanceId and Product (default "mysql") to a
// configured instance the caller may use.
func (s *Service) instance(ctx context.Context, id, product string, allowed []string) (killtask.InstanceConfig, error) {
	if id == "" {
		return killtask.InstanceConfig{}, E(InvalidParameterValue, "The parameter `InstanceId` must not be empty.")
	}
	if product == "" {
		product = "mysql"
	}
	if !slices.Contains(allowed, product) {
		return killtask.InstanceConfig{}, E(InvalidParameterValue, "The parameter `Product` must be one of %v; got `%s`.", allowed, product)
	}
	// Scope before existence: a scoped caller cannot tell which instance
	// ids outside its scope exist.
	if !CallerFrom(ctx).MayUse(id) {
		return killtask.InstanceConfig{}, E(UnauthorizedOperation, "The credential may not act on instance `%s`.", id)
	}
	inst, ok := s.eng.Instance(id)
	if !ok {
		return killtask.InstanceConfig{}, E(InvalidParameterValue, "The instance `%s` in parameter `InstanceId` is not managed by this killgate.", id)
	}
	if inst.Product != product {
		return killtask.InstanceConfig{}, E(InvalidParameterValue, "The parameter `Product` is `%s` but instance `%s` is `%s`.", product, id, inst.Product)
	}
	return inst, nil
}

// engineError maps engine and store errors to API errors.
func engineError(err error, what string) error {
	var ae *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return Wrap(FailedOperation, err, "%s timed out.", what)
	case errors.Is(err, killtask.ErrUnknownInstance):
		return Wrap(InvalidParameterValue, err, "The instance is not managed by this killgate.")
	case errors.Is(err, killtask.ErrUnknownNode):
		return Wrap(InvalidParameterValue, err, "The node is not part of the instance.")
	case errors.Is(err, killtask.ErrStaleTrxCache):
		return Wrap(FailedOperation, err, "%s failed: the server's information_schema.INNODB_TRX is stale (another client reads it more often than every 100 ms); try again.", what)
	case errors.Is(err, killtask.ErrUnavailable):
		return Wrap(FailedOperation, err, "%s failed: the instance's database cannot be reached.", what)
	}
	return Wrap(FailedOperation, err, "%s failed.", what)
}

// newID returns prefix + 16 random hex digits.
func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
