package auth

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestVerifiedCacheNeverOutlivesWhatProvedIt: a token answered from the cache
// is still refused once it expires, once the key that verified it is rotated
// out, and after the cache's own TTL it is verified again.
func TestVerifiedCacheNeverOutlivesWhatProvedIt(t *testing.T) {
	clock := now
	var counted atomic.Int32
	v, err := newVerifier(Config{Secret: testSecret, Leeway: 30 * time.Second, Subject: testSubject,
		Verified: func(string) { counted.Add(1) }}, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	short := hs256(claims(map[string]any{"exp": at(2 * time.Minute)}))
	long := hs256(claims(nil))

	for i := 0; i < 3; i++ {
		if id, err := v.Verify(short); err != nil || id.UserID != "42" {
			t.Fatalf("verify %d: %+v, %v", i, id, err)
		}
	}
	if n := counted.Load(); n != 3 {
		t.Fatalf("the metric counted %d of 3 accepted tokens (cache hits count too)", n)
	}
	// Past exp + leeway, the cached verification is over.
	clock = now.Add(2*time.Minute + 31*time.Second)
	if _, err := v.Verify(short); err != errExpired {
		t.Fatalf("an expired token from the cache: %v, want %v", err, errExpired)
	}

	// A rotated SECRET_KEY invalidates what the old one proved.
	clock = now
	if _, err := v.Verify(long); err != nil {
		t.Fatal(err)
	}
	if err := v.SetSecret([]byte("another-secret-0123456789abcdef-0123")); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(long); err != errSignature {
		t.Fatalf("a token of the rotated-out key: %v, want %v", err, errSignature)
	}
}

// TestVerifiedCacheIsBounded: a full cache starts over instead of growing.
func TestVerifiedCacheIsBounded(t *testing.T) {
	var c verifiedCache
	for i := 0; i < cacheSize+10; i++ {
		c.put(string(rune('a'+i%26))+time.Duration(i).String(), cachedIdentity{until: now.Add(time.Minute)})
	}
	if n := len(c.entries); n > cacheSize {
		t.Fatalf("%d entries, more than %d", n, cacheSize)
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	v := testVerifier(b, nil)
	tok := hs256(claims(nil))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
