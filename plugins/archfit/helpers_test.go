package archfit

import (
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

func klogDiscard() klog.Logger { return logr.Discard() }

func fmtAny(v any) string { return fmt.Sprint(v) }
