package imageplatform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Sentinel errors. Callers branch on them with errors.Is; ErrorReason turns
// any error into a short, bounded label for metrics and Events.
var (
	// ErrPending means the lookup is still running after the caller's budget
	// ran out. It keeps running in the background and fills the cache.
	ErrPending = errors.New("image platform lookup still in progress")
	// ErrInvalidReference is a malformed image reference in a pod spec.
	ErrInvalidReference = errors.New("invalid image reference")
	// ErrInvalidOverride is a malformed archfit.dev/platforms annotation.
	ErrInvalidOverride = errors.New("invalid " + PlatformsAnnotation + " annotation")
	// ErrInsecureNotAllowed is a plain-HTTP request to a registry that is not
	// in the insecure list.
	ErrInsecureNotAllowed = errors.New("plain HTTP to this registry is not allowed (add it to insecureRegistries)")
	// ErrForbiddenAddress is a registry host that resolves to a loopback,
	// link-local or cloud-metadata address and is not explicitly allowed.
	ErrForbiddenAddress = errors.New("registry address is loopback, link-local or cloud metadata and is not explicitly allowed")
	// ErrTooLarge is a manifest or config body over the configured cap.
	ErrTooLarge = errors.New("registry response exceeds the size limit")
	// ErrCircuitOpen is returned without contacting a registry that failed
	// repeatedly in the recent past.
	ErrCircuitOpen = errors.New("registry circuit breaker is open after repeated failures")
	// ErrNoPlatforms is a manifest that names no usable platform, which we
	// treat as a lying or broken registry rather than "runs nowhere".
	ErrNoPlatforms = errors.New("image declares no usable platform")
)

// RateLimitedError is returned while a registry's Retry-After is in force, so
// that we do not send it requests it asked us not to send.
type RateLimitedError struct {
	Registry string
	Until    time.Time
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("registry %s rate-limited us (429); retrying after %s", e.Registry, e.Until.UTC().Format(time.RFC3339))
}

// ErrorReason maps an error to one of a fixed set of labels. The set is
// bounded on purpose: it is used as a Prometheus label value.
func ErrorReason(err error) string {
	if err == nil {
		return "ok"
	}
	var rl *RateLimitedError
	var te *transport.Error
	var ne net.Error
	switch {
	case errors.Is(err, ErrPending):
		return "pending"
	case errors.Is(err, ErrInvalidReference):
		return "invalid_reference"
	case errors.Is(err, ErrInvalidOverride):
		return "invalid_override"
	case errors.Is(err, ErrInsecureNotAllowed):
		return "insecure_not_allowed"
	case errors.Is(err, ErrForbiddenAddress):
		return "forbidden_address"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrCircuitOpen):
		return "circuit_open"
	case errors.Is(err, ErrNoPlatforms):
		return "no_platforms"
	case errors.As(err, &rl):
		return "rate_limited"
	case errors.As(err, &te):
		switch {
		case te.StatusCode == http.StatusUnauthorized, te.StatusCode == http.StatusForbidden:
			return "unauthorized"
		case te.StatusCode == http.StatusNotFound:
			return "not_found"
		case te.StatusCode == http.StatusTooManyRequests:
			return "rate_limited"
		case te.StatusCode >= 500:
			return "server_error"
		}
		return "registry_error"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ne):
		return "network"
	}
	return "bad_response"
}

// StatusCode returns the HTTP status of a registry error, or 0.
func StatusCode(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	var rl *RateLimitedError
	if errors.As(err, &rl) {
		return http.StatusTooManyRequests
	}
	return 0
}
