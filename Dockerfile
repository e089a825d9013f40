# The sunbeam binary in a small image. Build: docker build -t sunbeam .
# The web messenger bundle is committed (web/bundle/), so no Node.js is needed here.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY web/bundle web/bundle
COPY web/demo.html web/demo.html
RUN cargo build --release --locked --bin sunbeam && strip target/release/sunbeam

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/sunbeam --create-home sunbeam
COPY --from=build /src/target/release/sunbeam /usr/local/bin/sunbeam
USER sunbeam
WORKDIR /var/lib/sunbeam
ENV SUNBEAM_LISTEN=0.0.0.0:8091 \
    SUNBEAM_DATA_DIR=/var/lib/sunbeam \
    SUNBEAM_DATABASE_URL=sqlite:///var/lib/sunbeam/sunbeam.db
EXPOSE 8091
ENTRYPOINT ["sunbeam"]
CMD ["serve"]
