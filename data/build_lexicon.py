#!/usr/bin/env python3
"""Regenerates the derived lexicon files of data/ from the public sources (see data/README.md).

Usage: python3 data/build_lexicon.py DIR   (DIR holds csco22.csv and skills_en.json)
Outputs (deterministic, sorted): csco22_digital.csv, skills_en_curated.txt.
"""
import csv, json, os, sys

if len(sys.argv) != 2:
    sys.exit("usage: build_lexicon.py DIR  (DIR holds csco22.csv and skills_en.json)")
src = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))

# 1. Digital occupations of CSCO 2022 (names ending in "S"): code, name, market aliases.
rows = list(csv.DictReader(open(os.path.join(src, "csco22.csv"), encoding="utf-8")))
with open(os.path.join(here, "csco22_digital.csv"), "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["code", "name", "alias"])
    for r in rows:
        if r["name"].endswith("S"):
            w.writerow([r["code"], r["name"], r["alias"]])

# 2. A curated subset of skills_en.json: technology skills that appear (in English) in Chinese
# postings. The display spelling is ours; a name is kept only if skills_en.json has it.
CURATED = """
Java;Python;Go;Golang;C++;C#;C;Rust;Kotlin;Swift;Objective-C;Scala;Ruby;PHP;Perl;Lua;R;MATLAB;
TypeScript;JavaScript;HTML;HTML5;CSS;CSS3;Sass;Less;Shell;Bash;PowerShell;SQL;NoSQL;Dart;Elixir;
Erlang;Haskell;Clojure;Groovy;Julia;Solidity;Assembly;Verilog;VHDL;
SystemVerilog;UVM;ASIC;SoC;RTL;EDA;Cadence;Synopsys;Tcl;
React;React Native;Vue;Vue.js;Angular;AngularJS;jQuery;Next.js;Nuxt.js;Redux;Webpack;Vite;Node.js;
Express;NestJS;Flutter;Electron;Bootstrap;Tailwind CSS;Svelte;WebAssembly;WebGL;Three.js;D3.js;
Spring;Spring Boot;Spring Cloud;Spring MVC;MyBatis;Hibernate;Django;Flask;FastAPI;Tornado;Rails;
Laravel;Gin;gRPC;GraphQL;REST;RESTful API;Netty;Dubbo;Thrift;Protobuf;ASP.NET;.NET;.NET Core;
MySQL;PostgreSQL;Oracle;SQL Server;MongoDB;Redis;Memcached;Elasticsearch;Cassandra;HBase;Hive;
ClickHouse;SQLite;Neo4j;InfluxDB;TiDB;Doris;Presto;Snowflake;DynamoDB;MariaDB;
Kafka;RabbitMQ;RocketMQ;ActiveMQ;ZooKeeper;Nginx;Apache;Tomcat;Linux;Unix;Windows Server;
Docker;Kubernetes;Helm;Istio;Terraform;Ansible;Jenkins;GitLab CI;GitHub Actions;Git;SVN;Maven;
Gradle;CI/CD;DevOps;SRE;Prometheus;Grafana;ELK;Zabbix;OpenStack;AWS;Azure;GCP;Alibaba Cloud;
Serverless;Microservices;Service Mesh;
Hadoop;Spark;Flink;Storm;HDFS;YARN;Airflow;ETL;Data Warehouse;Data Mining;Data Analysis;
Data Visualization;Tableau;Power BI;Excel;Pandas;NumPy;SciPy;Scikit-learn;Jupyter;
Machine Learning;Deep Learning;TensorFlow;PyTorch;Keras;Caffe;PaddlePaddle;XGBoost;LightGBM;
Computer Vision;OpenCV;NLP;Natural Language Processing;LLM;Transformers;BERT;RAG;LangChain;
Reinforcement Learning;Recommender Systems;Speech Recognition;CUDA;
Android;iOS;SwiftUI;Jetpack Compose;Unity;Unity3D;Unreal Engine;Cocos2d-x;OpenGL;Vulkan;
Embedded;Embedded Linux;RTOS;FreeRTOS;ARM;STM32;FPGA;DSP;PCB Design;PLC;MCU;Altium Designer;
Selenium;Appium;JMeter;LoadRunner;Postman;JUnit;pytest;Cypress;Jest;Unit Testing;
Automated Testing;Performance Testing;TDD;
Figma;Sketch;Photoshop;Illustrator;After Effects;Premiere;Axure;Blender;Maya;3ds Max;
Agile;Scrum;Kanban;Jira;Confluence;PMP;Product Management;UX;UI Design;Interaction Design;
SEO;SEM;Google Analytics;CRM;ERP;SAP;Salesforce;
Network Security;Penetration Testing;Cryptography;Blockchain;Ethereum;TCP/IP;HTTP;WebSocket;
Distributed Systems;High Concurrency;Multithreading;JVM;Design Patterns;Algorithms;Data Structures;
Big Data;Cloud Computing;Operations Research;Statistics;
"""
known = set(json.load(open(os.path.join(src, "skills_en.json"), encoding="utf-8")))
names = [n.strip() for n in CURATED.replace("\n", "").split(";") if n.strip()]
kept = sorted({n for n in names if n.lower() in known}, key=str.lower)
with open(os.path.join(here, "skills_en_curated.txt"), "w", encoding="utf-8") as f:
    f.write("# Curated subset of skills_en.json (MIT, see LICENSE.skills_en); display spelling ours.\n")
    for n in kept:
        f.write(n + "\n")
missing = [n for n in names if n.lower() not in known]
print(f"kept {len(kept)} of {len(names)}; not in skills_en.json: {missing}", file=sys.stderr)
