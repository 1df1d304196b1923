//! `eval-recommend`: offline evaluation of job recommendations over a labelled set.
//!
//! **Dataset.** Jobs and resumes are generated deterministically from a seed out of the
//! occupation taxonomy the service bundles (`data/internet_job_categories.yml`, see `data/README.md`): an *occupation* is a leaf of the tree (技术 → 后端开发 → Java) and its
//! *siblings* are the other leaves of the same parent (后端开发 → Python, Go, ...). Each
//! occupation used here has real market titles (CSCO 2022 aliases and the tree's own titles)
//! and skills every one of which the service's lexicon recognises; its parent adds skills the
//! siblings share. Jobs vary like postings do: several cities (weighted by market size), some
//! remote ("远程" or "北京（可远程）"), four seniority levels with salaries and years, required
//! skills drawn from the occupation's (the signature skill usually, one to three others, some
//! of the parent's, now and then a sibling's; one posting in ten names none), a posted salary
//! on most. Resumes likewise: a subset of the occupation's skills plus noise, stated years,
//! education, work history, a wanted city ("期望城市：X", nine in ten) and an expected salary
//! (seven in ten).
//!
//! **Labels.** For a resume of occupation X wanting city C, a job is grade 2 when it is of X
//! and in C or remote, grade 1 when it is of a sibling of X and in C or remote, else 0.
//!
//! **Metrics** (over the resumes with at least one relevant job, each asking
//! `recommend_jobs_with` for 10 jobs without filters): nDCG@10 with gains 2^g − 1 against the
//! ideal ordering of all the resume's relevant jobs; Recall@10 = relevant (grade ≥ 1) jobs in
//! the top 10 / min(10, number of relevant jobs); MRR = 1 / rank of the first relevant job in
//! the top 10 (0 when none). Diagnostics: the shares of the top 10 that are of the resume's
//! occupation, whose place fits (same city or remote), and that are grade 2.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::config::ServeArgs;
use crate::entity::{Id, JobData, ResumeData};
use crate::recommend::Weights;
use crate::service::{AiService, Analyser, RecommendRequest, ServiceError, StartError};

use super::TempDir;
use crate::store::Collection;

/// Jobs asked for per query (the cut-off of every metric).
pub const K: usize = 10;
/// Entities written per transaction while loading.
const WRITE_BATCH: usize = 1_000;
/// Generated resumes count from this year (so stated years never depend on today's date).
const BASE_YEAR: i32 = 2025;

/// An occupation: a leaf of the taxonomy, its market titles and its skills (the signature
/// skill first).
#[derive(Debug)]
pub struct Occupation {
    pub name: &'static str,
    pub titles: &'static [&'static str],
    pub skills: &'static [&'static str],
}

/// A parent of the taxonomy with the occupations used under it.
#[derive(Debug)]
pub struct Family {
    pub category: &'static str,
    pub subcategory: &'static str,
    /// Monthly salary (CNY) of the 1-3 years level in a tier-1 city, before the city factor.
    pub pay: f64,
    /// Share of postings (relative).
    pub weight: u64,
    /// Skills the siblings share.
    pub shared: &'static [&'static str],
    /// What the work is, for descriptions and work histories.
    pub duties: &'static [&'static str],
    pub occupations: &'static [Occupation],
}

macro_rules! occ {
    ($name:expr, [$($t:expr),+ $(,)?], [$($s:expr),+ $(,)?]) => {
        Occupation { name: $name, titles: &[$($t),+], skills: &[$($s),+] }
    };
}

/// The occupations of the evaluation, by parent. Every `(category, subcategory, name)` is a
/// leaf of the bundled taxonomy and every skill is one the lexicon finds (both tested).
#[rustfmt::skip]
pub const FAMILIES: &[Family] = &[
    Family {
        category: "技术", subcategory: "后端开发", pay: 20_000.0, weight: 12,
        shared: &["MySQL", "Redis", "Linux", "Git", "Docker", "Kafka", "Microservices", "Nginx", "Distributed Systems"],
        duties: &["核心业务系统的服务端设计与开发", "高并发接口的性能优化与稳定性保障", "参与系统架构设计和技术方案评审"],
        occupations: &[
            occ!("Java", ["Java开发工程师", "Java后端开发工程师", "Java开发"], ["Java", "Spring Boot", "Spring", "JVM", "Maven", "Netty", "Tomcat", "ZooKeeper"]),
            occ!("C++", ["C++开发工程师", "C/C++开发工程师", "C++后台开发工程师"], ["C++", "Multithreading", "Data Structures", "TCP/IP", "Protobuf", "gRPC"]),
            occ!("PHP", ["PHP开发工程师", "PHP后端开发工程师"], ["PHP", "Laravel", "MariaDB", "jQuery", "RESTful API"]),
            occ!("Python", ["Python开发工程师", "Python后端开发工程师"], ["Python", "Django", "Flask", "FastAPI", "pytest", "Pandas"]),
            occ!("Go", ["Golang开发工程师", "Go开发工程师", "Go后端开发工程师"], ["Go", "Golang", "gRPC", "Protobuf", "Kubernetes", "Microservices"]),
            occ!("Node.js", ["Node.js开发工程师", "Node.js后端开发工程师"], ["Node.js", "Express", "NestJS", "TypeScript", "MongoDB", "GraphQL"]),
            occ!("全栈工程师", ["全栈工程师", "全栈开发工程师"], ["JavaScript", "React", "Node.js", "TypeScript", "Vue", "Python"]),
            occ!("数据挖掘", ["数据挖掘工程师", "数据挖掘算法工程师"], ["数据挖掘", "Spark", "Hive", "Python", "Machine Learning", "SQL", "Hadoop"]),
        ],
    },
    Family {
        category: "技术", subcategory: "移动开发", pay: 20_000.0, weight: 5,
        shared: &["Git", "HTTP", "WebSocket", "Data Structures", "Jenkins"],
        duties: &["公司移动端App的功能开发与迭代", "移动端性能优化与稳定性治理", "与产品、设计协作完成新版本上线"],
        occupations: &[
            occ!("Android", ["Android开发工程师", "安卓开发工程师"], ["Android", "Kotlin", "Java", "Jetpack Compose", "Gradle"]),
            occ!("iOS", ["iOS开发工程师", "iOS工程师"], ["iOS", "Swift", "Objective-C", "SwiftUI"]),
            occ!("HTML5", ["H5开发工程师", "HTML5开发工程师"], ["HTML5", "JavaScript", "CSS3", "Vue", "Webpack"]),
        ],
    },
    Family {
        category: "技术", subcategory: "前端开发", pay: 19_000.0, weight: 7,
        shared: &["HTML", "CSS", "JavaScript", "Git", "Webpack", "Vite", "HTTP"],
        duties: &["Web前端页面与组件的开发", "前端工程化建设与性能优化", "配合后端完成接口联调与交付"],
        occupations: &[
            occ!("web 前端", ["Web前端开发工程师", "前端开发工程师"], ["前端开发", "Vue", "React", "TypeScript", "Sass", "Less", "Tailwind CSS"]),
            occ!("JavaScript", ["JavaScript开发工程师", "JS前端工程师"], ["JavaScript", "TypeScript", "React", "Redux", "jQuery", "Node.js"]),
            occ!("U3D", ["U3D开发工程师", "Unity3D开发工程师", "Unity游戏开发工程师"], ["Unity3D", "Unity", "C#", "Lua", "OpenGL"]),
            occ!("COCOS2D-X", ["Cocos开发工程师", "COCOS2D-X游戏开发工程师"], ["COCOS2D-X", "C++", "Lua", "OpenGL"]),
        ],
    },
    Family {
        category: "技术", subcategory: "人工智能", pay: 26_000.0, weight: 6,
        shared: &["Python", "Machine Learning", "Deep Learning", "PyTorch", "TensorFlow", "NumPy", "Linux", "CUDA"],
        duties: &["算法模型的研究、训练与上线", "模型效果评估与持续迭代优化", "跟踪业界前沿论文并落地到业务"],
        occupations: &[
            occ!("深度学习", ["深度学习工程师", "深度学习算法工程师"], ["深度学习", "PyTorch", "TensorFlow", "CUDA", "Transformers", "Keras"]),
            occ!("机器学习", ["机器学习工程师", "机器学习算法工程师"], ["机器学习", "Scikit-learn", "XGBoost", "LightGBM", "Spark", "Statistics"]),
            occ!("图像识别", ["图像识别算法工程师", "计算机视觉算法工程师"], ["图像识别", "OpenCV", "Computer Vision", "图像算法", "图像处理"]),
            occ!("语音识别", ["语音识别工程师", "语音算法工程师"], ["语音识别", "Speech Recognition", "语音算法", "C++"]),
            occ!("自然语言处理", ["NLP算法工程师", "自然语言处理工程师", "大模型算法工程师"], ["自然语言处理", "NLP", "BERT", "Transformers", "LLM", "LangChain", "RAG"]),
            occ!("算法工程师", ["算法工程师", "推荐算法工程师", "搜索算法工程师"], ["推荐算法", "搜索算法", "Algorithms", "Spark", "XGBoost"]),
        ],
    },
    Family {
        category: "技术", subcategory: "测试", pay: 16_000.0, weight: 5,
        shared: &["Python", "Linux", "SQL", "Jira", "Postman", "Git"],
        duties: &["产品的测试方案设计与测试用例编写", "缺陷跟踪与质量分析", "测试流程与测试工具建设"],
        occupations: &[
            occ!("自动化测试", ["自动化测试工程师", "UI自动化测试工程师"], ["自动化测试", "Selenium", "Appium", "pytest", "Jenkins"]),
            occ!("功能测试", ["功能测试工程师", "软件测试工程师"], ["功能测试", "黑盒测试", "软件测试", "移动端测试"]),
            occ!("性能测试", ["性能测试工程师"], ["性能测试", "JMeter", "LoadRunner", "Performance Testing", "Grafana"]),
            occ!("测试开发", ["测试开发工程师", "测试开发"], ["测试开发", "Java", "pytest", "CI/CD", "Jenkins", "Docker"]),
            occ!("游戏测试", ["游戏测试工程师", "游戏测试"], ["游戏测试", "功能测试", "Unity", "移动端测试"]),
        ],
    },
    Family {
        category: "技术", subcategory: "运维", pay: 17_000.0, weight: 5,
        shared: &["Linux", "Shell", "Docker", "Nginx", "TCP/IP", "Git"],
        duties: &["线上服务器与网络的日常运维", "监控告警体系建设与故障处理", "自动化运维平台的建设"],
        occupations: &[
            occ!("运维工程师", ["运维工程师", "系统运维工程师", "IT运维工程师"], ["Linux", "Zabbix", "Ansible", "Prometheus", "Shell"]),
            occ!("运维开发工程师", ["运维开发工程师", "DevOps工程师", "SRE工程师"], ["运维开发", "DevOps", "Kubernetes", "CI/CD", "Terraform", "SRE", "Go"]),
            occ!("网络工程师", ["网络工程师", "IT网络工程师"], ["TCP/IP", "F5", "CDN", "Windows Server", "网络维修"]),
            occ!("网络安全", ["网络安全工程师", "信息安全工程师", "安全工程师"], ["网络安全", "渗透测试", "WEB安全", "Network Security", "Penetration Testing", "系统安全"]),
            occ!("系统工程师", ["系统工程师", "系统集成工程师"], ["系统集成", "Windows Server", "Unix", "PowerShell", "IT支持"]),
        ],
    },
    Family {
        category: "技术", subcategory: "DBA", pay: 19_000.0, weight: 3,
        shared: &["SQL", "Linux", "Shell", "Python"],
        duties: &["数据库的部署、备份与高可用建设", "SQL性能诊断与优化", "数据平台的规划与建设"],
        occupations: &[
            occ!("MySQL", ["MySQL DBA", "MySQL数据库工程师"], ["MySQL", "MariaDB", "Redis", "PostgreSQL"]),
            occ!("Oracle", ["Oracle DBA", "Oracle数据库工程师"], ["Oracle", "SQL Server", "Unix"]),
            occ!("MongoDB", ["MongoDB DBA", "NoSQL数据库工程师"], ["MongoDB", "NoSQL", "Cassandra", "Elasticsearch", "Redis"]),
            occ!("数据仓库", ["数据仓库工程师", "数仓开发工程师", "大数据开发工程师"], ["数据仓库", "Hive", "Spark", "Flink", "ClickHouse", "Data Warehouse", "数据开发"]),
            occ!("ETL", ["ETL工程师", "ETL开发工程师"], ["ETL", "Airflow", "Kafka", "Presto", "数据采集"]),
        ],
    },
    Family {
        category: "技术", subcategory: "硬件开发", pay: 18_000.0, weight: 4,
        shared: &["C", "Linux", "MCU", "Altium Designer"],
        duties: &["硬件产品的方案设计与调试", "底层软件与板级支持开发", "配合生产完成产品量产导入"],
        occupations: &[
            occ!("嵌入式", ["嵌入式软件工程师", "嵌入式开发工程师"], ["嵌入式", "Embedded Linux", "RTOS", "ARM", "STM32"]),
            occ!("单片机", ["单片机开发工程师", "单片机工程师"], ["单片机", "STM32", "MCU", "电路设计"]),
            occ!("FPGA开发", ["FPGA开发工程师", "FPGA工程师"], ["FPGA开发", "FPGA", "Verilog", "VHDL"]),
            occ!("电路设计", ["电路设计工程师", "硬件工程师"], ["电路设计", "PCB Design", "Altium Designer", "硬件"]),
            occ!("驱动开发", ["驱动开发工程师", "Linux驱动开发工程师"], ["驱动开发", "Embedded Linux", "ARM开发", "C"]),
        ],
    },
    Family {
        category: "产品", subcategory: "产品经理", pay: 18_000.0, weight: 6,
        shared: &["Axure", "Product Management", "Jira", "SQL", "Figma", "Excel"],
        duties: &["产品需求调研与规划", "撰写产品需求文档并推动研发落地", "跟踪产品数据并持续迭代优化"],
        occupations: &[
            occ!("产品经理", ["产品经理", "B端产品经理", "C端产品经理"], ["Product Management", "Axure", "Scrum", "产品运营"]),
            occ!("数据产品经理", ["数据产品经理"], ["Data Analysis", "Tableau", "数据仓库", "Power BI", "SQL"]),
            occ!("电商产品经理", ["电商产品经理"], ["供应链", "CRM", "商家运营", "网店运营"]),
            occ!("移动产品经理", ["移动产品经理", "App产品经理"], ["UX", "Figma", "Android", "iOS"]),
            occ!("网页产品经理", ["网页产品经理", "Web产品经理"], ["UX", "SEO", "Google Analytics", "HTML"]),
            occ!("游戏策划", ["游戏策划", "游戏系统策划", "游戏关卡策划"], ["剧情设计", "游戏文案", "Excel", "Unity"]),
        ],
    },
    Family {
        category: "设计", subcategory: "视觉设计", pay: 14_000.0, weight: 4,
        shared: &["Photoshop", "Illustrator", "Figma", "Sketch"],
        duties: &["产品界面与品牌物料的视觉设计", "建立和维护设计规范", "配合运营完成活动页面与海报设计"],
        occupations: &[
            occ!("UI设计师", ["UI设计师", "UI视觉设计师"], ["UI Design", "Figma", "Sketch", "After Effects"]),
            occ!("平面设计师", ["平面设计师", "美工设计师"], ["Photoshop", "Illustrator", "广告制作", "美术指导"]),
            occ!("视觉设计师", ["视觉设计师", "品牌视觉设计师"], ["Photoshop", "广告创意", "Blender", "After Effects"]),
            occ!("原画师", ["原画师", "游戏原画师"], ["游戏原画", "游戏角色", "游戏场景", "Photoshop"]),
            occ!("网页设计师", ["网页设计师", "Web设计师"], ["网页设计", "HTML", "CSS", "Photoshop"]),
            occ!("多媒体设计师", ["多媒体设计师", "3D设计师"], ["多媒体设计", "After Effects", "3ds Max", "Maya", "Blender"]),
        ],
    },
    Family {
        category: "设计", subcategory: "交互设计", pay: 16_000.0, weight: 2,
        shared: &["Axure", "Figma", "Sketch", "UX"],
        duties: &["产品交互流程与原型设计", "可用性测试与体验问题分析", "输出交互规范并跟进开发还原"],
        occupations: &[
            occ!("交互设计师", ["交互设计师", "UX设计师"], ["UX", "Axure", "Figma"]),
            occ!("无线交互设计师", ["无线交互设计师", "移动端交互设计师"], ["UX", "Sketch", "iOS", "Android"]),
            occ!("网页交互设计师", ["网页交互设计师", "Web交互设计师"], ["UX", "HTML", "CSS", "Axure"]),
        ],
    },
    Family {
        category: "设计", subcategory: "用户研究", pay: 15_000.0, weight: 3,
        shared: &["Excel", "SQL", "Data Analysis", "Statistics"],
        duties: &["业务数据与用户行为分析", "搭建指标体系并输出分析报告", "通过调研与数据为产品决策提供依据"],
        occupations: &[
            occ!("数据分析师", ["数据分析师", "商业数据分析师", "BI分析师"], ["Data Analysis", "SQL", "Python", "Tableau", "Power BI", "商业数据分析", "Pandas"]),
            occ!("用户研究员", ["用户研究员", "用户体验研究员"], ["UX", "Statistics", "Excel", "Data Visualization"]),
            occ!("游戏数值策划", ["游戏数值策划", "数值策划"], ["Excel", "Statistics", "Lua", "游戏体验"]),
        ],
    },
    Family {
        category: "运营", subcategory: "运营", pay: 12_000.0, weight: 7,
        shared: &["Excel", "Data Analysis", "SQL"],
        duties: &["用户增长与留存策略的制定和执行", "运营活动的策划、执行与复盘", "运营数据的监控分析与优化"],
        occupations: &[
            occ!("用户运营", ["用户运营", "会员运营"], ["用户运营", "社区运营", "活动运营", "CRM"]),
            occ!("产品运营", ["产品运营", "产品运营经理"], ["产品运营", "数据运营", "Axure"]),
            occ!("内容运营", ["内容运营", "内容运营编辑"], ["内容运营", "新媒体运营", "微信运营", "视频运营"]),
            occ!("活动运营", ["活动运营", "活动运营经理"], ["活动运营", "活动策划执行", "活动执行"]),
            occ!("新媒体运营", ["新媒体运营", "抖音运营", "短视频运营"], ["新媒体运营", "微信运营", "微博运营", "抖音引流", "直播运营"]),
            occ!("网店运营", ["电商运营", "淘宝运营", "网店运营"], ["网店运营", "淘宝运营", "天猫运营", "京东运营", "店铺推广", "拼多多运营"]),
            occ!("游戏运营", ["游戏运营", "游戏运营经理"], ["游戏运营", "社区运营", "活动运营", "游戏推广"]),
        ],
    },
    Family {
        category: "市场or营销", subcategory: "市场营销", pay: 13_000.0, weight: 3,
        shared: &["Excel", "Data Analysis", "CRM", "市场营销"],
        duties: &["市场营销策略的制定与执行", "品牌与产品的市场推广", "市场调研与竞品分析"],
        occupations: &[
            occ!("市场营销", ["市场营销专员", "市场营销经理"], ["市场营销", "网络营销", "市场推广"]),
            occ!("市场策划", ["市场策划", "市场策划经理"], ["活动策划执行", "品牌合作", "广告文案"]),
            occ!("活动策划", ["活动策划", "活动策划经理"], ["活动策划执行", "活动执行", "媒介投放"]),
            occ!("网络营销", ["网络营销专员", "网络营销经理"], ["网络营销", "SEO", "SEM", "网络推广", "Google Analytics"]),
            occ!("海外市场", ["海外市场专员", "海外市场经理"], ["海外市场", "Google Analytics", "海外运营", "SEO"]),
            occ!("商业数据分析", ["商业数据分析师", "市场数据分析师"], ["商业数据分析", "SQL", "Tableau", "Power BI"]),
        ],
    },
    Family {
        category: "市场or营销", subcategory: "渠道or推广", pay: 12_000.0, weight: 2,
        shared: &["市场推广", "Excel"],
        duties: &["线上线下推广渠道的拓展与维护", "推广投放效果的跟踪与优化", "推广预算与渠道数据的管理"],
        occupations: &[
            occ!("SEO", ["SEO专员", "SEO优化专员"], ["SEO", "Google Analytics", "网站运营", "HTML"]),
            occ!("SEM", ["SEM专员", "SEM竞价专员"], ["SEM", "广告投放", "Google Analytics"]),
            occ!("市场推广", ["市场推广专员", "地推专员"], ["市场推广", "线下拓展运营", "渠道推广"]),
            occ!("渠道推广", ["渠道推广专员", "渠道推广经理"], ["渠道推广", "商务渠道", "渠道销售"]),
        ],
    },
    Family {
        category: "销售", subcategory: "销售", pay: 11_000.0, weight: 4,
        shared: &["CRM", "Excel"],
        duties: &["客户开发与维护，完成销售目标", "挖掘客户需求并促成签约", "维护渠道与客户关系"],
        occupations: &[
            occ!("电话销售", ["电话销售", "电销专员"], ["电话销售", "网络销售", "CRM"]),
            occ!("渠道销售", ["渠道销售经理", "渠道销售专员"], ["渠道销售", "代理商销售", "商务渠道"]),
            occ!("大客户代表", ["大客户代表", "大客户销售经理", "KA经理"], ["商务拓展", "Salesforce", "CRM"]),
            occ!("商务拓展", ["商务拓展经理", "BD经理", "商务拓展专员"], ["商务拓展", "媒介商务BD", "商务渠道"]),
            occ!("广告销售", ["广告销售", "广告销售经理"], ["广告销售", "广告投放", "媒介投放"]),
            occ!("保险销售", ["保险销售", "保险顾问"], ["保险销售", "CRM"]),
        ],
    },
    Family {
        category: "职能", subcategory: "人力资源", pay: 10_000.0, weight: 3,
        shared: &["人力资源", "Excel"],
        duties: &["公司人力资源相关模块的日常工作", "人才招募与组织发展", "员工入离职与劳动关系管理"],
        occupations: &[
            occ!("招聘", ["招聘专员", "招聘经理", "HR招聘专员"], ["招聘", "人力资源"]),
            occ!("HRBP", ["HRBP", "人力资源业务伙伴"], ["HRBP", "员工关系", "招聘"]),
            occ!("员工关系", ["员工关系专员", "员工关系经理"], ["员工关系", "人力资源"]),
            occ!("人力资源", ["人力资源专员", "人事专员"], ["人力资源", "招聘", "SAP"]),
        ],
    },
    Family {
        category: "职能", subcategory: "财务", pay: 10_000.0, weight: 3,
        shared: &["Excel", "财务", "SAP"],
        duties: &["公司日常账务处理与报表编制", "财务核算与资金管理", "配合内外部审计与税务检查"],
        occupations: &[
            occ!("会计", ["会计", "总账会计", "会计专员"], ["会计", "财务", "税务", "结算"]),
            occ!("出纳", ["出纳", "出纳专员"], ["出纳", "结算", "Excel"]),
            occ!("税务", ["税务专员", "税务会计"], ["税务", "会计", "审计"]),
            occ!("审计", ["审计专员", "内审专员"], ["审计", "风控", "会计"]),
            occ!("风控", ["风控专员", "风控经理", "风险控制专员"], ["风控", "SQL", "Data Analysis", "审计"]),
        ],
    },
];

/// Skills anyone may name (résumé noise).
const GENERIC_SKILLS: &[&str] = &[
    "Excel",
    "Git",
    "Jira",
    "Python",
    "SQL",
    "Photoshop",
    "Scrum",
];

/// (city, salary factor, weight), largest job markets first; `--cities N` takes the first N.
pub const CITIES: &[(&str, f64, u64)] = &[
    ("北京市", 1.25, 16),
    ("上海市", 1.25, 16),
    ("深圳市", 1.2, 16),
    ("杭州市", 1.1, 12),
    ("广州市", 1.05, 10),
    ("成都市", 0.85, 8),
    ("南京市", 0.9, 6),
    ("武汉市", 0.85, 6),
    ("西安市", 0.8, 5),
    ("苏州市", 0.9, 5),
    ("天津市", 0.85, 4),
    ("重庆市", 0.8, 4),
    ("长沙市", 0.8, 3),
    ("合肥市", 0.8, 3),
    ("厦门市", 0.85, 3),
    ("青岛市", 0.8, 3),
];

/// (experience text of a posting, minimum years, salary factor, title prefix)
const LEVELS: &[(&str, u32, f64, &str)] = &[
    ("经验不限", 0, 0.65, "初级"),
    ("1-3年", 1, 1.0, ""),
    ("3-5年", 3, 1.35, "高级"),
    ("5-10年", 5, 1.8, "资深"),
];

const INDUSTRIES: &[&str] = &[
    "互联网",
    "人工智能",
    "电子商务",
    "金融科技",
    "游戏",
    "企业服务",
    "在线教育",
    "医疗健康",
    "智能制造",
    "新能源汽车",
];
const NAME_HEADS: &[&str] = &[
    "星辰", "云帆", "蓝海", "智远", "数澜", "极光", "千帆", "易达", "华拓", "思博", "青藤", "远景",
    "麦芒", "知行", "若水", "启明", "深蓝", "飞鱼", "锦程", "盛图",
];
const NAME_TAILS: &[&str] = &["网络科技", "信息技术", "智能科技", "数字科技", "软件"];
const CULTURE: &[&str] = &[
    "扁平化管理",
    "鼓励创新",
    "技术氛围浓厚",
    "团队氛围好",
    "弹性工作",
    "双休",
    "结果导向",
    "能接受一定的抗压工作",
];
const SOFT: &[&str] = &[
    "良好的沟通能力和团队协作精神",
    "责任心强，有较强的学习能力",
    "逻辑清晰，执行力强",
];
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "杰", "婷", "强", "晨", "浩", "子涵",
    "思远", "一鸣", "佳琪",
];
/// (education, schools)
const SCHOOLS: &[(&str, &[&str])] = &[
    ("大专", &["深圳职业技术学院", "武汉职业技术学院"]),
    (
        "本科",
        &[
            "华中科技大学",
            "西安电子科技大学",
            "南京邮电大学",
            "深圳大学",
            "华南理工大学",
        ],
    ),
    (
        "本科",
        &["杭州电子科技大学", "重庆邮电大学", "山东大学", "厦门大学"],
    ),
    (
        "硕士",
        &["浙江大学", "上海交通大学", "北京邮电大学", "中山大学"],
    ),
];

/// A deterministic generator, identical on every platform and `rand` version.
#[derive(Debug, Clone)]
struct Rng(crate::rng::SplitMix64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(crate::rng::SplitMix64(
            seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03),
        ));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// True with probability `pct` percent.
    fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn weighted(&mut self, weights: impl Iterator<Item = u64> + Clone) -> usize {
        let total: u64 = weights.clone().sum();
        let mut x = self.next() % total.max(1);
        for (i, w) in weights.enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        0
    }
    /// Up to `n` distinct items of `xs`, in the order drawn.
    fn several<'a>(&mut self, xs: &[&'a str], n: usize) -> Vec<&'a str> {
        let mut pool: Vec<&str> = xs.to_vec();
        let mut out = Vec::new();
        while out.len() < n && !pool.is_empty() {
            out.push(pool.swap_remove(self.below(pool.len())));
        }
        out
    }
}

/// Ground truth of a generated job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTruth {
    pub family: usize,
    /// Index into [`occupations`].
    pub occupation: usize,
    /// Index into [`CITIES`]; `None` for a fully remote job.
    pub city: Option<usize>,
    pub remote: bool,
}

/// Ground truth of a generated resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeTruth {
    pub family: usize,
    pub occupation: usize,
    /// The city the candidate wants (index into [`CITIES`]), stated or not.
    pub city: usize,
}

/// The relevance grade of a job for a resume: 2 = same occupation, 1 = sibling occupation,
/// each only when the job is in the resume's city or remote; else 0.
pub fn grade(r: &ResumeTruth, j: &JobTruth) -> u8 {
    if !(j.remote || j.city == Some(r.city)) {
        return 0;
    }
    if j.occupation == r.occupation {
        2
    } else if j.family == r.family {
        1
    } else {
        0
    }
}

/// Every occupation as (family index, occupation), in [`FAMILIES`] order.
pub fn occupations() -> Vec<(usize, &'static Occupation)> {
    FAMILIES
        .iter()
        .enumerate()
        .flat_map(|(f, fam)| fam.occupations.iter().map(move |o| (f, o)))
        .collect()
}

/// A generated labelled set.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub jobs: Vec<(Id, JobData, JobTruth)>,
    pub resumes: Vec<(Id, ResumeData, ResumeTruth)>,
}

/// Sizes and seed of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenConfig {
    pub jobs: usize,
    pub resumes: usize,
    /// Cities used (the first N of [`CITIES`]).
    pub cities: usize,
    pub seed: u64,
}

fn short_city(c: &str) -> &str {
    crate::recommend::short_city(c)
}

fn round_k(x: f64) -> f64 {
    (x / 1000.0).round().max(1.0) * 1000.0
}

/// Distinct skills in first-seen order.
fn dedup(v: Vec<&'static str>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for s in v {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(s)) {
            out.push(s);
        }
    }
    out
}

fn city_index(r: &mut Rng, n: usize) -> usize {
    r.weighted(CITIES[..n].iter().map(|c| c.2))
}

fn family_index(r: &mut Rng) -> usize {
    r.weighted(FAMILIES.iter().map(|f| f.weight))
}

/// A skill of a sibling occupation (none when the family has one occupation).
fn sibling_skill(r: &mut Rng, fam: &Family, occ: &Occupation) -> Option<&'static str> {
    let siblings: Vec<&Occupation> = fam
        .occupations
        .iter()
        .filter(|o| o.name != occ.name)
        .collect();
    if siblings.is_empty() {
        return None;
    }
    let s = r.pick(&siblings);
    Some(*r.pick(s.skills))
}

fn company_name(r: &mut Rng) -> String {
    format!("{}{}有限公司", r.pick(NAME_HEADS), r.pick(NAME_TAILS))
}

/// Global index of each family's first occupation (see [`occupations`]).
fn offsets() -> Vec<usize> {
    FAMILIES
        .iter()
        .scan(0, |n, f| {
            let at = *n;
            *n += f.occupations.len();
            Some(at)
        })
        .collect()
}

fn job(r: &mut Rng, cities: usize, offsets: &[usize]) -> (JobData, JobTruth) {
    let f = family_index(r);
    let fam = &FAMILIES[f];
    let o = r.below(fam.occupations.len());
    let occ = &fam.occupations[o];
    let (level, min_years, level_pay, prefix) = *r.pick(LEVELS);
    let roll = r.below(100);
    let (city, remote, location) = if roll < 8 {
        (None, true, "远程".to_string())
    } else {
        let c = city_index(r, cities);
        if roll < 12 {
            (
                Some(c),
                true,
                format!("{}（可远程）", short_city(CITIES[c].0)),
            )
        } else if r.chance(50) {
            (Some(c), false, CITIES[c].0.to_string())
        } else {
            (Some(c), false, short_city(CITIES[c].0).to_string())
        }
    };
    let title = format!("{prefix}{}", r.pick(occ.titles));
    let company = company_name(r);
    let industry = *r.pick(INDUSTRIES);
    // Required skills: usually the signature one, one to three of the occupation's others,
    // some of the parent's, now and then a sibling's; one posting in ten names none.
    let vague = r.chance(10);
    let mut required: Vec<&'static str> = Vec::new();
    if !vague {
        if r.chance(80) {
            required.push(occ.skills[0]);
        }
        let n = 1 + r.below(3);
        required.extend(r.several(&occ.skills[1..], n));
        let n = r.below(3);
        required.extend(r.several(fam.shared, n));
        if r.chance(15) {
            required.extend(sibling_skill(r, fam, occ));
        }
        if required.is_empty() {
            required.push(occ.skills[0]);
        }
    }
    let required = dedup(required);
    // Other skills named in the description (the scorer's "preferred" skills).
    let mut preferred: Vec<&'static str> = Vec::new();
    if r.chance(40) {
        let pool: Vec<&'static str> = occ
            .skills
            .iter()
            .chain(fam.shared)
            .copied()
            .filter(|s| !required.contains(s))
            .collect();
        let n = 1 + r.below(2);
        preferred = r.several(&pool, n);
    }
    let duties = 1 + r.below(2);
    let mut description = format!(
        "{company}是一家{industry}公司，现招聘{title}，负责{}。",
        r.several(fam.duties, duties).join("，")
    );
    if !preferred.is_empty() {
        description += &format!("工作中会用到{}。", preferred.join("、"));
    }
    if r.chance(60) {
        description += &format!("公司文化：{}。", r.pick(CULTURE));
    }
    if remote {
        description += "支持远程办公。";
    }
    if let (Some(c), true) = (city, r.chance(40)) {
        description += &format!("工作地点：{}。", short_city(CITIES[c].0));
    }
    let years_text = match min_years {
        0 => "经验不限，欢迎应届生".to_string(),
        _ => format!("{level}相关工作经验"),
    };
    let edu = if fam.category == "技术" && r.chance(20) {
        "硕士"
    } else if r.chance(15) {
        "大专"
    } else {
        "本科"
    };
    let skills_text = if vague {
        format!("有{}相关经验，熟悉常用工具", fam.subcategory)
    } else {
        format!("熟悉{}", required.join("、"))
    };
    let requirements = format!(
        "{years_text}；{edu}及以上学历；{skills_text}；{}",
        r.pick(SOFT)
    );
    let city_pay = city.map_or(1.1, |c| CITIES[c].1);
    let (salary_min, salary_max) = if r.chance(85) {
        let noise = 0.85 + r.below(31) as f64 / 100.0;
        let lo = round_k(fam.pay * level_pay * city_pay * noise);
        let hi = round_k(lo * (1.3 + r.below(5) as f64 / 10.0));
        (Some(lo), Some(hi))
    } else {
        (None, None)
    };
    let data = JobData {
        title,
        company,
        company_id: None,
        location,
        description,
        requirements,
        salary_min,
        salary_max,
        industry: Some(industry.to_string()),
        experience: Some(level.to_string()),
        education: Some(edu.to_string()),
        job_type: Some(
            if min_years == 0 && r.chance(30) {
                "实习"
            } else {
                "全职"
            }
            .to_string(),
        ),
        company_size: None,
    };
    let truth = JobTruth {
        family: f,
        occupation: offsets[f] + o,
        city,
        remote,
    };
    (data, truth)
}

fn resume(r: &mut Rng, i: usize, cities: usize, offsets: &[usize]) -> (String, ResumeTruth) {
    let f = family_index(r);
    let fam = &FAMILIES[f];
    let o = r.below(fam.occupations.len());
    let occ = &fam.occupations[o];
    let c = city_index(r, cities);
    let city = short_city(CITIES[c].0);
    // Years 0-12, fewer at the top.
    let years = (r.below(9) + r.below(5)) as u32;
    let &(_, _, level_pay, prefix) = LEVELS
        .iter()
        .rev()
        .find(|l| years >= l.1)
        .unwrap_or(&LEVELS[0]);
    let base_title = *r.pick(occ.titles);
    let title = format!("{prefix}{base_title}");
    let mut skills: Vec<&'static str> = Vec::new();
    if r.chance(85) {
        skills.push(occ.skills[0]);
    }
    let n = 1 + r.below(4);
    skills.extend(r.several(&occ.skills[1..], n));
    let n = r.below(3);
    skills.extend(r.several(fam.shared, n));
    if r.chance(30) {
        skills.extend(sibling_skill(r, fam, occ));
    }
    if r.chance(20) {
        skills.push(*r.pick(GENERIC_SKILLS));
    }
    if skills.is_empty() {
        skills.push(occ.skills[0]);
    }
    let skills = dedup(skills);
    let name = format!("{}{}", r.pick(SURNAMES), r.pick(GIVEN));
    let mut text = format!("{name}\n");
    if r.chance(80) {
        text += &format!(
            "电话：139{:08}  邮箱：candidate{}@example.com\n",
            (i * 7_919) % 100_000_000,
            i + 1
        );
    }
    let states_city = r.chance(90);
    text += &format!("求职意向：{title}");
    if states_city {
        text += &format!("  期望城市：{city}");
    }
    if r.chance(70) {
        let want = (fam.pay * level_pay * CITIES[c].1 * (0.95 + r.below(30) as f64 / 100.0)
            / 1000.0)
            .round()
            .max(3.0);
        let hi = (want * 1.4).round();
        text += &format!("  期望薪资：{want}-{hi}K/月");
    }
    text.push('\n');
    if years > 0 {
        text += &format!("{years}年工作经验，熟悉{}\n", skills.join("、"));
    } else {
        text += &format!("应届毕业生，熟悉{}\n", skills.join("、"));
    }
    let (edu, schools) = *r.pick(SCHOOLS);
    let grad = BASE_YEAR - years as i32;
    let start = match edu {
        "大专" => grad - 3,
        "硕士" => grad - 7,
        _ => grad - 4,
    };
    text += &format!("教育背景：{start}.09-{grad}.06 {} {edu}\n", r.pick(schools));
    let employers = if years == 0 {
        0
    } else {
        1 + r.below(3.min(years as usize))
    };
    let mut from = grad;
    for k in 0..employers {
        let last = k + 1 == employers;
        let until = if last {
            "至今".to_string()
        } else {
            let span = ((years as i32 - (from - grad)) / (employers - k) as i32).max(1);
            format!("{}.06", from + span)
        };
        let place = if last && !states_city {
            format!("（{city}）")
        } else {
            String::new()
        };
        // The current position carries the seniority, earlier ones the plain title.
        let held = if last { title.as_str() } else { base_title };
        text += &format!(
            "工作经历：{from}.07-{until} {}{place} {held}，负责{}",
            company_name(r),
            r.pick(fam.duties)
        );
        if r.chance(50) {
            text += &format!("，相关指标提升{}%", 10 + r.below(40));
        }
        text.push('\n');
        from = until.trim_end_matches(".06").parse().unwrap_or(from);
    }
    if r.chance(60) {
        text += &format!(
            "项目经验：参与{}相关项目，使用{}完成核心工作\n",
            fam.subcategory, skills[0]
        );
    }
    if years == 0 {
        text += &format!(
            "实习经历：在{}实习三个月，参与{}工作\n",
            company_name(r),
            fam.subcategory
        );
    }
    text += &format!(
        "自我评价：{}，喜欢{}的团队\n",
        r.pick(SOFT),
        r.pick(CULTURE)
    );
    let truth = ResumeTruth {
        family: f,
        occupation: offsets[f] + o,
        city: c,
    };
    (text, truth)
}

/// Generates the labelled set: job ids and resume ids (= their users' ids) count from 1. Jobs
/// and resumes are drawn from separate streams of the seed, so changing one count leaves the
/// other set unchanged.
pub fn generate(cfg: &GenConfig) -> Dataset {
    let cities = cfg.cities.clamp(1, CITIES.len());
    let offsets = offsets();
    let mut r = Rng::new(cfg.seed, 1);
    let jobs = (0..cfg.jobs)
        .map(|i| {
            let (data, truth) = job(&mut r, cities, &offsets);
            (Id(i as u64 + 1), data, truth)
        })
        .collect();
    let mut r = Rng::new(cfg.seed, 2);
    let resumes = (0..cfg.resumes)
        .map(|i| {
            let (content, truth) = resume(&mut r, i, cities, &offsets);
            let id = Id(i as u64 + 1);
            let data = ResumeData {
                content,
                file_type: "txt".into(),
                file_name: format!("resume_{}.txt", i + 1),
                user_id: Some(id),
            };
            (id, data, truth)
        })
        .collect();
    Dataset { jobs, resumes }
}

// ---------------------------------------------------------------------------------------
// Metrics

/// DCG of graded results with gains 2^g − 1 and log2(rank + 1) discounts.
fn dcg(grades: impl IntoIterator<Item = u8>) -> f64 {
    grades
        .into_iter()
        .enumerate()
        .map(|(i, g)| (2f64.powi(i32::from(g)) - 1.0) / ((i + 2) as f64).log2())
        .sum()
}

/// nDCG@k of a ranking (`ranked`: the grades of the returned items, best first) given the
/// grades of every relevant item there is (`relevant`, any order); 0 when nothing is relevant.
pub fn ndcg_at(ranked: &[u8], relevant: &[u8], k: usize) -> f64 {
    let mut ideal = relevant.to_vec();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let best = dcg(ideal.into_iter().take(k));
    if best <= 0.0 {
        return 0.0;
    }
    dcg(ranked.iter().copied().take(k)) / best
}

/// Recall@k: relevant (grade ≥ 1) items in the top k over min(k, relevant items there are);
/// 0 when nothing is relevant.
pub fn recall_at(ranked: &[u8], relevant: usize, k: usize) -> f64 {
    let den = relevant.min(k);
    if den == 0 {
        return 0.0;
    }
    let hits = ranked.iter().take(k).filter(|g| **g > 0).count();
    hits as f64 / den as f64
}

/// 1 / rank of the first relevant item within the top k (0 when there is none).
pub fn reciprocal_rank(ranked: &[u8], k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|g| *g > 0)
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

// ---------------------------------------------------------------------------------------
// Runner

/// A ranking mode: a name and the re-ranker's weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Mode {
    pub name: String,
    pub weights: Weights,
}

impl Mode {
    pub fn new(name: &str, weights: Weights) -> Mode {
        Mode {
            name: name.to_string(),
            weights,
        }
    }
}

/// The modes compared: the full re-ranker, semantic-only, skill-only and, with `ablations`,
/// the full re-ranker without one factor at a time.
pub fn default_modes(ablations: bool) -> Vec<Mode> {
    let full = Weights::default();
    let mut modes = vec![
        Mode::new("full", full),
        Mode::new("semantic-only", Weights::SEMANTIC_ONLY),
        Mode::new("skill-only", Weights::SKILLS_ONLY),
    ];
    if ablations {
        modes.extend([
            Mode::new(
                "full-no-skills",
                Weights {
                    skills: 0.0,
                    ..full
                },
            ),
            Mode::new(
                "full-no-experience",
                Weights {
                    experience: 0.0,
                    ..full
                },
            ),
            Mode::new("full-no-basic", Weights { basic: 0.0, ..full }),
            Mode::new(
                "full-no-culture",
                Weights {
                    culture: 0.0,
                    ..full
                },
            ),
            Mode::new(
                "full-no-occupation",
                Weights {
                    occupation: 0.0,
                    ..full
                },
            ),
        ]);
    }
    modes
}

/// Settings of one evaluation run.
#[derive(Debug, Clone)]
pub struct RecommendEvalConfig {
    pub data: GenConfig,
    pub modes: Vec<Mode>,
    /// Working data dir (must be empty or absent; kept afterwards). Default: a new directory
    /// under the system's temporary dir, removed at the end.
    pub data_dir: Option<PathBuf>,
    /// Recommendation requests in flight at once.
    pub concurrency: usize,
}

/// One line of output: the means of one mode over the queries.
#[derive(Debug, Clone, Serialize)]
pub struct ModeRow {
    pub mode: String,
    pub weights: Weights,
    pub k: usize,
    /// Resumes with at least one relevant job (the queries averaged over).
    pub queries: usize,
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
    pub mrr: f64,
    /// Share of the top 10 of the resume's own occupation (any place).
    pub same_occupation_at_10: f64,
    /// Share of the top 10 in the resume's city or remote (any occupation).
    pub place_fit_at_10: f64,
    /// Share of the top 10 that are grade 2.
    pub grade2_at_10: f64,
    /// Share of the top 10 that are remote jobs.
    pub remote_at_10: f64,
    pub jobs: usize,
    pub resumes: usize,
    pub cities: usize,
    pub seed: u64,
    /// Wall time of this mode's requests.
    pub ms: u64,
}

/// What a run measured, with the dataset's shape and the timings.
#[derive(Debug, Clone, Serialize)]
pub struct RecommendEvalReport {
    pub rows: Vec<ModeRow>,
    pub occupations: usize,
    pub families: usize,
    /// Mean number of grade-2 and grade-1 jobs per query.
    pub mean_grade2: f64,
    pub mean_grade1: f64,
    /// Resumes left out for having no relevant job.
    pub skipped_resumes: usize,
    /// The candidate stage (the same for every mode), as the service gathers it for a top
    /// 10: the vector arm's `candidates` nearest jobs (`AI_RECOMMEND_CANDIDATES`) and the jobs
    /// it missed among the lexical arm's `lexical_candidates` best
    /// (`AI_RECOMMEND_LEXICAL_CANDIDATES`); `mean_candidates` of them per query. The share of
    /// each query's grade-2 and of its relevant jobs among the vector arm's (`vector_recall*`)
    /// and among all candidates (`candidate_recall*`), and the nDCG@10 of a perfect
    /// re-ranking of all candidates (the ceiling of any weights).
    pub candidates: usize,
    pub lexical_candidates: usize,
    pub mean_candidates: f64,
    pub vector_recall_grade2: f64,
    pub vector_recall: f64,
    pub candidate_recall_grade2: f64,
    pub candidate_recall: f64,
    pub oracle_ndcg_at_10: f64,
    pub generate_ms: u64,
    pub load_ms: u64,
    pub eval_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RecommendEvalError {
    #[error("{0}")]
    Invalid(String),
    #[error("data dir {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

fn check_empty(dir: &Path) -> Result<(), RecommendEvalError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(RecommendEvalError::Invalid(format!(
                    "data dir {} is not empty: eval-recommend needs a fresh one",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(RecommendEvalError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

async fn load(service: &AiService, data: &Dataset) -> Result<(), RecommendEvalError> {
    for chunk in data.jobs.chunks(WRITE_BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for (id, job, _) in chunk {
            batch.push(
                service
                    .prepare_job(*id, job.clone(), Analyser::Rules)
                    .await?
                    .1,
            );
        }
        service.write_batch(Collection::Jobs, batch).await?;
    }
    for chunk in data.resumes.chunks(WRITE_BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for (id, resume, _) in chunk {
            batch.push(
                service
                    .prepare_resume(*id, resume.clone(), Analyser::Rules)
                    .await?
                    .1,
            );
        }
        service.write_batch(Collection::Resumes, batch).await?;
    }
    // The steady state of a served index: every job in the graph (a background rebuild may
    // have frozen only part of them while loading).
    let engine = service.engine().clone();
    let jobs = data.jobs.len();
    tokio::task::spawn_blocking(move || {
        engine.wait_idle();
        if jobs > crate::vector::EngineOptions::default().tail_limit {
            engine.rebuild(Collection::Jobs)?;
        }
        Ok::<_, crate::vector::VectorError>(())
    })
    .await
    .map_err(|e| ServiceError::Internal(e.to_string()))?
    .map_err(ServiceError::from)?;
    Ok(())
}

/// A query: a resume with its relevant jobs' grades.
struct Query {
    user: Id,
    truth: ResumeTruth,
    relevant: Vec<u8>,
}

/// The candidate stage's means over the queries.
struct Stage {
    candidates: f64,
    vector_grade2: f64,
    vector_relevant: f64,
    grade2: f64,
    relevant: f64,
    oracle_ndcg: f64,
}

/// The candidate stage of each query's recommendation, as the service gathers it: the
/// shares of its grade-2 and relevant jobs among the vector arm's candidates and among all,
/// and the nDCG@10 of an ideal re-ranking of all.
async fn candidate_stage(
    service: &AiService,
    queries: &[Query],
    truth: &HashMap<u64, JobTruth>,
) -> Result<Stage, RecommendEvalError> {
    let mut per_query = Vec::with_capacity(queries.len());
    for q in queries {
        // Resume ids are their users' ids here.
        let (ids, from_vector) = service.job_candidates_of(q.user, K).await?;
        let grades_of = |ids: &[u64]| -> Vec<u8> {
            let mut g: Vec<u8> = ids
                .iter()
                .filter_map(|id| truth.get(id))
                .map(|jt| grade(&q.truth, jt))
                .collect();
            g.sort_unstable_by(|a, b| b.cmp(a));
            g
        };
        let count = |gs: &[u8], f: &dyn Fn(u8) -> bool| gs.iter().filter(|g| f(**g)).count();
        let g2 = count(&q.relevant, &|g| g == 2);
        let shares = |gs: &[u8]| {
            (
                (g2 > 0).then(|| count(gs, &|g| g == 2) as f64 / g2 as f64),
                count(gs, &|g| g > 0) as f64 / q.relevant.len() as f64,
            )
        };
        let all = grades_of(&ids);
        per_query.push((
            ids.len() as f64,
            shares(&grades_of(&ids[..from_vector])),
            shares(&all),
            ndcg_at(&all, &q.relevant, K),
        ));
    }
    Ok(Stage {
        candidates: mean(per_query.iter().map(|q| q.0)),
        vector_grade2: mean(per_query.iter().filter_map(|q| q.1 .0)),
        vector_relevant: mean(per_query.iter().map(|q| q.1 .1)),
        grade2: mean(per_query.iter().filter_map(|q| q.2 .0)),
        relevant: mean(per_query.iter().map(|q| q.2 .1)),
        oracle_ndcg: mean(per_query.iter().map(|q| q.3)),
    })
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Generates the set, loads it into a fresh service (built-in embedder, or the hashing one
/// with `EMBEDDING_PROVIDER=hash`; rule-based analysis, no LLM, no databases), asks every mode for every query's top 10 and reports the means.
/// `emit` receives each mode's row as it is measured.
pub async fn run(
    cfg: &RecommendEvalConfig,
    mut emit: impl FnMut(&ModeRow),
) -> Result<RecommendEvalReport, RecommendEvalError> {
    let g = cfg.data;
    if g.jobs == 0 || g.resumes == 0 {
        return Err(RecommendEvalError::Invalid(
            "--jobs and --resumes must be at least 1".into(),
        ));
    }
    if g.cities == 0 || g.cities > CITIES.len() {
        return Err(RecommendEvalError::Invalid(format!(
            "--cities must be between 1 and {}",
            CITIES.len()
        )));
    }
    if cfg.modes.is_empty() {
        return Err(RecommendEvalError::Invalid(
            "no ranking mode to evaluate".into(),
        ));
    }
    let t = Instant::now();
    let data = generate(&g);
    let generate_ms = t.elapsed().as_millis() as u64;

    // The data dir: the caller's (fresh) or a temporary one, dropped after the service.
    let _temp;
    let dir = match &cfg.data_dir {
        Some(d) => {
            check_empty(d)?;
            d.clone()
        }
        None => {
            let t = TempDir::create("eval-recommend").map_err(|source| RecommendEvalError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
            let d = t.path().to_path_buf();
            _temp = t;
            d
        }
    };
    let mut args = ServeArgs::for_tests(dir);
    args.sample_data = Some(false);
    args.recommend_settings_from_env();
    // The offline embedder to compare (EMBEDDING_PROVIDER=hash: the hashing one).
    if let Ok(p) = std::env::var("EMBEDDING_PROVIDER") {
        use clap::ValueEnum;
        args.embedding_provider = crate::config::EmbeddingProvider::from_str(&p, true)
            .ok()
            .filter(|p| p.is_offline())
            .ok_or_else(|| {
                RecommendEvalError::Invalid(format!(
                    "EMBEDDING_PROVIDER={p}: eval-recommend runs the offline embedders only \
                     (builtin or hash)"
                ))
            })?;
    }
    let config = args.validate()?;
    let service = AiService::open(config).await?;

    let t = Instant::now();
    load(&service, &data).await?;
    let load_ms = t.elapsed().as_millis() as u64;

    let truth: HashMap<u64, JobTruth> = data.jobs.iter().map(|(id, _, t)| (id.0, *t)).collect();
    let mut queries = Vec::new();
    let mut skipped = 0;
    for (id, _, rt) in &data.resumes {
        let relevant: Vec<u8> = data
            .jobs
            .iter()
            .map(|(_, _, jt)| grade(rt, jt))
            .filter(|g| *g > 0)
            .collect();
        if relevant.is_empty() {
            skipped += 1;
        } else {
            queries.push(Query {
                user: *id,
                truth: *rt,
                relevant,
            });
        }
    }
    let mean_grade2 = mean(
        queries
            .iter()
            .map(|q| q.relevant.iter().filter(|g| **g == 2).count() as f64),
    );
    let mean_grade1 = mean(
        queries
            .iter()
            .map(|q| q.relevant.iter().filter(|g| **g == 1).count() as f64),
    );

    let stage = candidate_stage(&service, &queries, &truth).await?;
    // As `service::recommend` sizes the arms for a top K.
    let service_candidates = (K * 10)
        .max(service.config().recommend_candidates)
        .min(crate::vector::MAX_K);
    let lexical_candidates = service.config().recommend_lexical_candidates;

    let t_eval = Instant::now();
    let mut rows = Vec::new();
    for mode in &cfg.modes {
        let t = Instant::now();
        let rankings: Vec<Result<Vec<u64>, ServiceError>> = stream::iter(queries.iter())
            .map(|q| {
                let service = service.clone();
                let weights = mode.weights;
                let user = q.user;
                async move {
                    let req = RecommendRequest {
                        user_id: user,
                        limit: Some(K),
                        filters: None,
                        profile_text: None,
                    };
                    let recs = service.recommend_jobs_with(req, weights).await?;
                    Ok(recs
                        .recommendations
                        .iter()
                        .filter_map(|r| r.job_id.map(|j| j.0))
                        .collect())
                }
            })
            .buffered(cfg.concurrency.max(1))
            .collect()
            .await;
        let ms = t.elapsed().as_millis() as u64;
        let mut ndcg = Vec::with_capacity(queries.len());
        let mut recall = Vec::with_capacity(queries.len());
        let mut rr = Vec::with_capacity(queries.len());
        let mut same_occ = Vec::with_capacity(queries.len());
        let mut place = Vec::with_capacity(queries.len());
        let mut exact = Vec::with_capacity(queries.len());
        let mut remote = Vec::with_capacity(queries.len());
        for (q, ranking) in queries.iter().zip(rankings) {
            let ranking = ranking?;
            let jobs: Vec<&JobTruth> = ranking.iter().filter_map(|id| truth.get(id)).collect();
            let grades: Vec<u8> = jobs.iter().map(|jt| grade(&q.truth, jt)).collect();
            ndcg.push(ndcg_at(&grades, &q.relevant, K));
            recall.push(recall_at(&grades, q.relevant.len(), K));
            rr.push(reciprocal_rank(&grades, K));
            let share = |f: &dyn Fn(&JobTruth) -> bool| {
                jobs.iter().filter(|jt| f(jt)).count() as f64 / K as f64
            };
            same_occ.push(share(&|jt| jt.occupation == q.truth.occupation));
            place.push(share(&|jt| jt.remote || jt.city == Some(q.truth.city)));
            exact.push(grades.iter().filter(|g| **g == 2).count() as f64 / K as f64);
            remote.push(share(&|jt| jt.remote));
        }
        let row = ModeRow {
            mode: mode.name.clone(),
            weights: mode.weights,
            k: K,
            queries: queries.len(),
            ndcg_at_10: round4(mean(ndcg.into_iter())),
            recall_at_10: round4(mean(recall.into_iter())),
            mrr: round4(mean(rr.into_iter())),
            same_occupation_at_10: round4(mean(same_occ.into_iter())),
            place_fit_at_10: round4(mean(place.into_iter())),
            grade2_at_10: round4(mean(exact.into_iter())),
            remote_at_10: round4(mean(remote.into_iter())),
            jobs: g.jobs,
            resumes: g.resumes,
            cities: g.cities,
            seed: g.seed,
            ms,
        };
        emit(&row);
        rows.push(row);
    }
    let eval_ms = t_eval.elapsed().as_millis() as u64;

    // Let the engine settle before its directory goes.
    let engine = service.engine().clone();
    drop(service);
    let _ = tokio::task::spawn_blocking(move || engine.wait_idle()).await;
    Ok(RecommendEvalReport {
        rows,
        occupations: occupations().len(),
        families: FAMILIES.len(),
        mean_grade2: round4(mean_grade2),
        mean_grade1: round4(mean_grade1),
        skipped_resumes: skipped,
        candidates: service_candidates,
        lexical_candidates,
        mean_candidates: round4(stage.candidates),
        vector_recall_grade2: round4(stage.vector_grade2),
        vector_recall: round4(stage.vector_relevant),
        candidate_recall_grade2: round4(stage.grade2),
        candidate_recall: round4(stage.relevant),
        oracle_ndcg_at_10: round4(stage.oracle_ndcg),
        generate_ms,
        load_ms,
        eval_ms,
    })
}

/// The human summary: the dataset and a table of the modes.
pub fn summary(cfg: &RecommendEvalConfig, report: &RecommendEvalReport) -> String {
    let g = cfg.data;
    let mut s = format!(
        "eval-recommend: {} jobs, {} resumes ({} queries, {} without a relevant job), {} cities, \
         seed {}; {} occupations in {} parents; per query {:.1} grade-2 and {:.1} grade-1 jobs\n\
         candidate stage: {} nearest by vector reach {:.3} of grade-2 and {:.3} of relevant \
         jobs; with the lexical arm's best {} ({:.1} candidates): {:.3} and {:.3}, perfect \
         re-ranking nDCG@10 {:.4}\n\
         generate {} ms, load {} ms, evaluate {} ms\n",
        g.jobs,
        g.resumes,
        report.rows.first().map_or(0, |r| r.queries),
        report.skipped_resumes,
        g.cities,
        g.seed,
        report.occupations,
        report.families,
        report.mean_grade2,
        report.mean_grade1,
        report.candidates,
        report.vector_recall_grade2,
        report.vector_recall,
        report.lexical_candidates,
        report.mean_candidates,
        report.candidate_recall_grade2,
        report.candidate_recall,
        report.oracle_ndcg_at_10,
        report.generate_ms,
        report.load_ms,
        report.eval_ms,
    );
    s += &format!(
        "{:<20} {:>8} {:>10} {:>7} {:>9} {:>10} {:>8} {:>7}\n",
        "mode", "nDCG@10", "Recall@10", "MRR", "same-occ", "place-fit", "grade-2", "remote"
    );
    for r in &report.rows {
        s += &format!(
            "{:<20} {:>8.4} {:>10.4} {:>7.4} {:>9.3} {:>10.3} {:>8.3} {:>7.3}\n",
            r.mode,
            r.ndcg_at_10,
            r.recall_at_10,
            r.mrr,
            r.same_occupation_at_10,
            r.place_fit_at_10,
            r.grade2_at_10,
            r.remote_at_10
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::lexicon::Lexicon;

    #[test]
    fn occupations_are_taxonomy_leaves_and_skills_are_lexicon_skills() {
        let lex = Lexicon::bundled();
        // The tree itself (the lexicon drops some leaves as skills, e.g. "iOS").
        let mut leaves = Vec::new();
        let mut category = "";
        for line in include_str!("../../data/internet_job_categories.yml").lines() {
            if line.trim().is_empty() {
                continue;
            }
            if !line.starts_with(' ') {
                category = line.trim().trim_end_matches(':');
            } else if let Some((sub, names)) = line.trim().split_once(':') {
                for n in names.split(';') {
                    leaves.push((category, sub.trim(), n.trim()));
                }
            }
        }
        for fam in FAMILIES {
            assert!(
                fam.occupations.len() >= 3,
                "{} has siblings",
                fam.subcategory
            );
            for occ in fam.occupations {
                assert!(
                    leaves.contains(&(fam.category, fam.subcategory, occ.name)),
                    "{} / {} / {} is not a leaf of the taxonomy",
                    fam.category,
                    fam.subcategory,
                    occ.name
                );
                assert!(!occ.titles.is_empty());
                for s in occ.skills.iter().chain(fam.shared) {
                    let found = lex.find_skills(&format!("熟悉{s}；"));
                    assert!(
                        found.iter().any(|f| f.eq_ignore_ascii_case(s)),
                        "{s} ({}) is not a lexicon skill: {found:?}",
                        occ.name
                    );
                }
            }
        }
        for s in GENERIC_SKILLS {
            assert!(
                lex.find_skills(&format!("熟悉{s}；"))
                    .iter()
                    .any(|f| f == s),
                "{s}"
            );
        }
    }

    #[test]
    fn grades_follow_occupation_siblings_and_place() {
        let r = ResumeTruth {
            family: 0,
            occupation: 1,
            city: 2,
        };
        let j = |occupation, family, city, remote| JobTruth {
            family,
            occupation,
            city,
            remote,
        };
        assert_eq!(grade(&r, &j(1, 0, Some(2), false)), 2);
        assert_eq!(grade(&r, &j(1, 0, None, true)), 2);
        assert_eq!(grade(&r, &j(1, 0, Some(5), true)), 2);
        assert_eq!(grade(&r, &j(1, 0, Some(5), false)), 0);
        assert_eq!(grade(&r, &j(3, 0, Some(2), false)), 1);
        assert_eq!(grade(&r, &j(3, 0, None, true)), 1);
        assert_eq!(grade(&r, &j(9, 4, Some(2), false)), 0);
    }

    #[test]
    fn metrics_on_hand_made_rankings() {
        // Perfect ranking of two grade-2 and one grade-1 item.
        let relevant = [2, 1, 2];
        assert!((ndcg_at(&[2, 2, 1, 0], &relevant, 10) - 1.0).abs() < 1e-12);
        // Reversed: (1 + 3/log2(3) + 3/2) / (3 + 3/log2(3) + 1/2).
        let want = (1.0 + 3.0 / 3f64.log2() + 3.0 / 2.0) / (3.0 + 3.0 / 3f64.log2() + 0.5);
        assert!((ndcg_at(&[1, 2, 2], &relevant, 10) - want).abs() < 1e-12);
        assert_eq!(ndcg_at(&[0, 0], &relevant, 10), 0.0);
        assert_eq!(ndcg_at(&[0, 0], &[], 10), 0.0);
        // Only the top k count, and the ideal is cut at k too.
        assert!((ndcg_at(&[2, 0, 2], &[2, 2], 1) - 1.0).abs() < 1e-12);
        assert_eq!(ndcg_at(&[0, 2], &[2, 2], 1), 0.0);
        // Recall over min(k, relevant).
        assert_eq!(recall_at(&[2, 0, 1, 0], 3, 10), 2.0 / 3.0);
        assert_eq!(recall_at(&[2, 0, 1, 0], 40, 4), 0.5);
        assert_eq!(recall_at(&[0; 10], 5, 10), 0.0);
        assert_eq!(recall_at(&[1], 0, 10), 0.0);
        // First relevant item.
        assert_eq!(reciprocal_rank(&[0, 0, 1, 2], 10), 1.0 / 3.0);
        assert_eq!(reciprocal_rank(&[2], 10), 1.0);
        assert_eq!(reciprocal_rank(&[0, 0, 1], 2), 0.0);
        assert_eq!(reciprocal_rank(&[], 10), 0.0);
    }

    #[test]
    fn generation_is_deterministic_and_varied() {
        let cfg = GenConfig {
            jobs: 600,
            resumes: 100,
            cities: 6,
            seed: 7,
        };
        let a = generate(&cfg);
        let b = generate(&cfg);
        assert_eq!(a.jobs.len(), 600);
        for ((_, x, tx), (_, y, ty)) in a.jobs.iter().zip(&b.jobs) {
            assert_eq!(
                serde_json::to_string(x).unwrap(),
                serde_json::to_string(y).unwrap()
            );
            assert_eq!(tx, ty);
        }
        for ((_, x, tx), (_, y, ty)) in a.resumes.iter().zip(&b.resumes) {
            assert_eq!(x.content, y.content);
            assert_eq!(tx, ty);
        }
        // More resumes leave the jobs unchanged; another seed changes them.
        let more = generate(&GenConfig {
            resumes: 150,
            ..cfg
        });
        assert_eq!(more.jobs[599].1.title, a.jobs[599].1.title);
        let other = generate(&GenConfig { seed: 8, ..cfg });
        assert!(other
            .jobs
            .iter()
            .zip(&a.jobs)
            .any(|(x, y)| x.1.description != y.1.description));

        let remote = a.jobs.iter().filter(|j| j.2.remote).count();
        assert!((20..=120).contains(&remote), "{remote} remote jobs");
        let cities: std::collections::HashSet<_> = a.jobs.iter().filter_map(|j| j.2.city).collect();
        assert_eq!(cities.len(), 6);
        let occs: std::collections::HashSet<_> = a.jobs.iter().map(|j| j.2.occupation).collect();
        assert!(occs.len() > 60, "{} occupations", occs.len());
        // The rules read what the generator meant.
        let now = 2025.5;
        let mut stated_city = 0;
        for (_, d, t) in &a.resumes {
            let (analysis, facts) = crate::analysis::resume::analyze(&d.content, now);
            assert!(!analysis.skills.is_empty(), "{}", d.content);
            assert!(
                facts.years.is_some() || d.content.contains("应届毕业生"),
                "{}",
                d.content
            );
            if let Some(c) = facts.city {
                assert_eq!(c, CITIES[t.city].0, "{}", d.content);
                stated_city += 1;
            }
        }
        assert!(stated_city >= 80, "{stated_city} resumes state their city");
        for (_, j, t) in &a.jobs {
            let facts = crate::analysis::job::facts(j);
            match t.city {
                Some(c) => assert_eq!(facts.city.as_deref(), Some(CITIES[c].0), "{}", j.location),
                None => assert!(facts.city.is_none(), "{}", j.location),
            }
            assert!(facts.years.is_some(), "{}", j.requirements);
            if let Some(lo) = j.salary_min {
                assert!((3_000.0..=80_000.0).contains(&lo), "{lo}");
            }
        }
    }
}
