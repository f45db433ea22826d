package resolver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Clients builds one S3 client per opener on first use and shares it
// between stores, so their connections are pooled and closed together.
type s3Clients struct {
	cfg       S3Config
	timeout   time.Duration
	once      sync.Once
	client    *minio.Client
	transport *http.Transport
	err       error
}

func (c *s3Clients) get() (*minio.Client, error) {
	c.once.Do(func() {
		endpoint, secure := "s3.amazonaws.com", true
		lookup := minio.BucketLookupAuto
		if c.cfg.EndpointURL != "" {
			u, err := url.Parse(c.cfg.EndpointURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.User != nil {
				c.err = fmt.Errorf("S3 endpoint %q (MLFLOW_S3_ENDPOINT_URL): want http(s)://host[:port] without user information: %w", Redact(c.cfg.EndpointURL), ErrInvalid)
				return
			}
			// S3-compatible stores such as MinIO need path-style addressing.
			endpoint, secure, lookup = u.Host, u.Scheme == "https", minio.BucketLookupPath
		}
		tr, err := minio.DefaultTransport(secure)
		if err != nil {
			c.err = fmt.Errorf("S3 transport: %w", withKind(ErrInvalid, err))
			return
		}
		if c.cfg.IgnoreTLS {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // opt-in via MLFLOW_S3_IGNORE_TLS
		}
		tr.ResponseHeaderTimeout = c.timeout
		c.transport = tr
		creds := credentials.New(newS3Chain(c.cfg, c.timeout))
		if c.cfg.Anonymous {
			creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
		}
		c.client, err = minio.New(endpoint, &minio.Options{
			Creds:        creds,
			Secure:       secure,
			Transport:    tr,
			Region:       c.cfg.Region,
			BucketLookup: lookup,
			MaxRetries:   3,
		})
		if err != nil {
			c.err = fmt.Errorf("S3 client for %s: %w", endpoint, withKind(ErrInvalid, err))
		}
	})
	return c.client, c.err
}

func (c *s3Clients) close() {
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
}

// s3Store reads s3://bucket/prefix with ListObjectsV2 and GetObject.
type s3Store struct {
	client  *minio.Client
	bucket  string
	prefix  string // no leading or trailing slash
	display string
	timeout time.Duration
}

var _ ArtifactStore = (*s3Store)(nil)

func (o *artifactOpener) newS3Store(bucket, prefix, display string) (ArtifactStore, error) {
	if bucket == "" {
		return nil, fmt.Errorf("artifact URI %q: no bucket: %w", display, ErrInvalid)
	}
	p, err := cleanArtifactPath(prefix)
	if err != nil {
		return nil, fmt.Errorf("artifact URI %q: %w", display, err)
	}
	client, err := o.s3.get()
	if err != nil {
		return nil, err
	}
	return &s3Store{client: client, bucket: bucket, prefix: p, display: display, timeout: o.s3.timeout}, nil
}

func (s *s3Store) String() string { return s.display }

// List lists the keys directly under dir; common prefixes are directories.
func (s *s3Store) List(ctx context.Context, dir string) ([]FileInfo, error) {
	if err := checkRelPath(s.display, dir); err != nil {
		return nil, err
	}
	prefix := joinRel(s.prefix, dir)
	if prefix != "" {
		prefix += "/"
	}
	lctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var out []FileInfo
	var firstErr error
	for obj := range s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if firstErr != nil {
			continue // drain
		}
		if obj.Err != nil {
			firstErr = obj.Err
			continue
		}
		name := strings.TrimPrefix(obj.Key, prefix)
		isDir := strings.HasSuffix(name, "/")
		name = strings.TrimSuffix(name, "/")
		if name == "" {
			continue // the directory marker object itself
		}
		if err := checkEntryName(s.display, dir, name); err != nil {
			firstErr = err
			continue
		}
		fi := FileInfo{Path: joinRel(dir, name), IsDir: isDir, Size: -1}
		if !isDir {
			fi.Size = obj.Size
		}
		out = append(out, fi)
	}
	if firstErr != nil {
		return nil, fmt.Errorf("list artifacts %s/%s: %w", s.display, dir, s3Error(ctx, firstErr))
	}
	return out, nil
}

// Download streams one object; it is cancelled when no data arrives for the
// configured timeout.
func (s *s3Store) Download(ctx context.Context, file string, w io.Writer) (int64, error) {
	if file == "" {
		return 0, fmt.Errorf("artifact store %s: empty file name: %w", s.display, ErrInvalid)
	}
	if err := checkRelPath(s.display, file); err != nil {
		return 0, err
	}
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(s.timeout, func() { cancel(errStalled) })
	defer timer.Stop()
	obj, err := s.client.GetObject(dctx, s.bucket, joinRel(s.prefix, file), minio.GetObjectOptions{})
	if err != nil {
		return 0, fmt.Errorf("download artifact %s/%s: %w", s.display, file, s3Error(ctx, err))
	}
	defer obj.Close()
	n, err := io.Copy(w, &idleReader{r: obj, timer: timer, timeout: s.timeout})
	if err != nil {
		if context.Cause(dctx) == errStalled && ctx.Err() == nil {
			err = fmt.Errorf("no data for %v: %w", s.timeout, errStalled)
		}
		return n, fmt.Errorf("download artifact %s/%s after %d bytes: %w", s.display, file, n, s3Error(ctx, err))
	}
	return n, nil
}

// s3Error maps S3 error codes to the resolver's sentinels. An endpoint that
// does not answer, or answers 5xx, is unreachable: the version is not at
// fault.
func s3Error(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnauthorized) { // a size limit, no credentials
		return err
	}
	var resp minio.ErrorResponse
	errors.As(err, &resp)
	switch resp.Code {
	case "NoSuchKey", "NoSuchBucket":
		return withKind(ErrNotFound, err)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidTokenId":
		return withKind(ErrUnauthorized, err)
	}
	if (resp.Code == "" && !errors.Is(err, errStalled) && !errors.Is(err, io.ErrUnexpectedEOF)) || resp.StatusCode >= 500 {
		return withKind(ErrUnavailable, withKind(errUnreachable, err))
	}
	return withKind(ErrUnavailable, err)
}
