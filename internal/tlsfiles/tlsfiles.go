// Package tlsfiles serves TLS from a key pair on disk and follows its
// rotation without a restart (cert-manager and Secret volume updates replace
// the files in place, through a symlink swap). It wires
// k8s.io/apiserver's dynamiccertificates, the machinery kube-apiserver
// serves with, so rotation behaves as operators already know it: the files
// are watched (and re-read every minute in case a watch event is missed), a
// pair that does not load keeps the previous one, and the new pair is served
// from the next handshake.
package tlsfiles

import (
	"context"
	"crypto/tls"
	"fmt"

	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/klog/v2"
)

// ServerConfig returns a server TLS config backed by certFile and keyFile.
// With a clientCAFile it requires and verifies client certificates (mTLS),
// and follows that file's rotation too. nextProtos are the ALPN protocols
// to offer ("h2" for gRPC): the config a handshake gets is built here, not by
// the server that wraps it, so the server cannot add them itself.
//
// A missing or invalid file is an error, so a server never starts without a
// certificate. The watchers stop with ctx.
func ServerConfig(ctx context.Context, certFile, keyFile, clientCAFile string, nextProtos ...string) (*tls.Config, error) {
	serving, err := dynamiccertificates.NewDynamicServingContentFromFiles("serving", certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS key pair %s, %s: %w", certFile, keyFile, err)
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: nextProtos}
	var clientCA dynamiccertificates.CAContentProvider
	var caFile *dynamiccertificates.DynamicFileCAContent
	if clientCAFile != "" {
		if caFile, err = dynamiccertificates.NewDynamicCAContentFromFile("client-ca", clientCAFile); err != nil {
			return nil, fmt.Errorf("%s: %w", clientCAFile, err)
		}
		clientCA = caFile
		base.ClientAuth = tls.RequireAndVerifyClientCert
	}
	ctrl := dynamiccertificates.NewDynamicServingCertificateController(base, clientCA, serving, nil, nil)
	if err := ctrl.RunOnce(); err != nil {
		return nil, err
	}
	logger := klog.FromContext(ctx)
	serving.AddListener(ctrl)
	serving.AddListener(logReload{logger, "TLS key pair reloaded", certFile})
	go serving.Run(ctx, 1)
	if caFile != nil {
		caFile.AddListener(ctrl)
		caFile.AddListener(logReload{logger, "client CA reloaded", clientCAFile})
		go caFile.Run(ctx, 1)
	}
	go ctrl.Run(1, ctx.Done())
	return &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: nextProtos, GetConfigForClient: ctrl.GetConfigForClient}, nil
}

// logReload keeps the rotation visible at the default log level; the
// library itself logs a successful reload only at V(2). A pair that fails to
// load is logged by the library, as "key failed with : <error>".
type logReload struct {
	logger klog.Logger
	msg    string
	file   string
}

func (l logReload) Enqueue() { l.logger.Info(l.msg, "file", l.file) }
