# syntax=docker/dockerfile:1
# Multi-stage build: static binaries (CGO off) for every command under ./cmd
# (usersvc, and devauth when cmd/devauth exists), on a small alpine image as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN mkdir -p /out && go build -ldflags="-s -w -X main.version=${VERSION}" -o /out/ ./cmd/...

FROM alpine:3.21
# busybox wget is used by the compose health checks.
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 usersvc \
 && adduser -S -D -H -u 10001 -G usersvc usersvc
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
ENV APP_ENV=production HTTP_ADDR=:8000 CONSUMER_HEALTH_ADDR=:8001
EXPOSE 8000 8001
ENTRYPOINT ["usersvc"]
CMD ["serve"]
