#!/bin/sh
# Entrypoint of deploy/kafka/Dockerfile: write the server.properties the launcher rendered
# (kraft_files.render_server_properties), format storage on first start, then run the broker.
set -eu
: "${KAFKA_SERVER_PROPERTIES:?the launcher passes server.properties in KAFKA_SERVER_PROPERTIES}"
: "${KAFKA_CLUSTER_ID:?the launcher passes the cluster id in KAFKA_CLUSTER_ID}"
conf=/var/lib/kafka/server.properties
printf '%s\n' "$KAFKA_SERVER_PROPERTIES" > "$conf"
classpath='/opt/kafka/libs/*'
java -cp "$classpath" kafka.tools.StorageTool format --ignore-formatted \
    -t "$KAFKA_CLUSTER_ID" -c "$conf"
exec java -Xms256m -Xmx"${KAFKA_MAX_HEAP:-512m}" -XX:+UseG1GC \
    -Dlog4j2.configurationFile=/opt/kafka/log4j2.properties -cp "$classpath" kafka.Kafka "$conf"
