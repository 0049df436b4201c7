# syntax=docker/dockerfile:1
# lockpool's Concourse resource image: /opt/resource/{check,in,out} and /usr/local/bin/lockpool.
#
#   docker build -t registry.example.com/lockpool:0.1.0 .
#   docker push registry.example.com/lockpool:0.1.0
#
# The build stage is the official Swift image of the toolchain lockpool is developed with, on Debian 12. It takes
# libgit2-dev from bookworm-backports (1.8.4; docs/decisions/0004-libgit2-version.md), whose static archives (and those
# of mbedTLS, http-parser, PCRE2 and zlib) are linked into the executables (docs/decisions/0013-cold-process.md).
# The runtime stage carries no Swift runtime (the standard library and FoundationEssentials are linked statically,
# without ICU), no libgit2 and no git; it carries Kerberos' GSSAPI library (the one library libgit2 needs that Debian
# ships only shared) and the OpenSSH client, lockpool's ssh transport (docs/decisions/0010-openssh-transport.md).
# Measured without Docker by `make image-rootfs` (assets/image-rootfs.sh).
ARG SWIFT_IMAGE=swift:6.3.1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
# Only libgit2-dev comes from backports (`/bookworm-backports`); its dependencies and the rest from bookworm.
RUN echo 'deb http://deb.debian.org/debian bookworm-backports main' >/etc/apt/sources.list.d/bookworm-backports.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends libgit2-dev/bookworm-backports libcurl4-openssl-dev pkg-config make \
    binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The lockpool(1) man page (swift-argument-parser's generate-manual plugin, on a debug build of the products), which
# stage.sh installs at /usr/local/share/man/man1/lockpool.1.
RUN make manual
# The same script stages the layout for the end-to-end tests (make stage DESTDIR=…): what is tested is what ships.
RUN make stage DESTDIR=/staging

# The dashboard (`docker build --target dashboard -t lockpool-dashboard .`): lockpool-serve, a program of its own so
# that the resource image below carries no HTTP server (docs/decisions/0012-dashboard.md). BuildKit builds this stage
# only when it is the target.
FROM build AS dashboard-build
RUN make release-serve && install -D -s "$(swift build -c release --static-swift-stdlib --show-bin-path)/lockpool-serve" \
    /dashboard/usr/local/bin/lockpool-serve

FROM ${RUNTIME_IMAGE} AS dashboard
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgssapi-krb5-2 ca-certificates openssh-client \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives /usr/share/doc/*/changelog* /usr/share/man
COPY --from=dashboard-build /dashboard/ /
COPY --from=build /staging/usr/local/bin/lockpool /usr/local/bin/lockpool
EXPOSE 8080
# Listens on every address of the container: --allow-remote says that is meant (put authentication in front of it).
ENTRYPOINT ["/usr/local/bin/lockpool-serve", "--listen", "0.0.0.0:8080", "--allow-remote"]

# The resource image (the default target).
FROM ${RUNTIME_IMAGE}
# libgssapi-krb5-2: the Kerberos library the linked-in libgit2 calls for HTTP Negotiate; ca-certificates: https
# remotes; openssh-client: ssh remotes (the ssh transport runs `ssh`); libcurl4: loaded only when a step pushes
# metrics to a Pushgateway or the reaper asks the Concourse API.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgssapi-krb5-2 ca-certificates openssh-client libcurl4 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives /usr/share/doc/*/changelog* /usr/share/man
COPY --from=build /staging/ /
# Concourse runs /opt/resource/check, in and out itself; the entry point is for `docker run … lockpool status`.
ENTRYPOINT ["/usr/local/bin/lockpool"]
