"""arXiv's subject categories and their names in the three content languages.

arXiv names its categories in English only; the Korean and Chinese names follow the usual
names of the fields. A category missing here is still browsable, under its code."""

from __future__ import annotations

import re
from dataclasses import dataclass

# code: (English, Korean, Chinese)
NAMES: dict[str, tuple[str, str, str]] = {
    "cs.AI": ("Artificial Intelligence", "인공지능", "人工智能"),
    "cs.AR": ("Hardware Architecture", "하드웨어 구조", "硬件体系结构"),
    "cs.CC": ("Computational Complexity", "계산 복잡도", "计算复杂性"),
    "cs.CE": ("Computational Engineering, Finance, and Science", "계산 공학·금융·과학", "计算工程、金融与科学"),
    "cs.CG": ("Computational Geometry", "계산 기하학", "计算几何"),
    "cs.CL": ("Computation and Language", "계산 언어학", "计算与语言"),
    "cs.CR": ("Cryptography and Security", "암호와 보안", "密码学与安全"),
    "cs.CV": ("Computer Vision and Pattern Recognition", "컴퓨터 비전과 패턴 인식", "计算机视觉与模式识别"),
    "cs.CY": ("Computers and Society", "컴퓨터와 사회", "计算机与社会"),
    "cs.DB": ("Databases", "데이터베이스", "数据库"),
    "cs.DC": ("Distributed, Parallel, and Cluster Computing", "분산·병렬·클러스터 컴퓨팅", "分布式、并行与集群计算"),
    "cs.DL": ("Digital Libraries", "디지털 도서관", "数字图书馆"),
    "cs.DS": ("Data Structures and Algorithms", "자료 구조와 알고리즘", "数据结构与算法"),
    "cs.ET": ("Emerging Technologies", "신흥 기술", "新兴技术"),
    "cs.FL": ("Formal Languages and Automata Theory", "형식 언어와 오토마타 이론", "形式语言与自动机理论"),
    "cs.GT": ("Computer Science and Game Theory", "컴퓨터 과학과 게임 이론", "计算机科学与博弈论"),
    "cs.GR": ("Graphics", "그래픽스", "图形学"),
    "cs.HC": ("Human-Computer Interaction", "인간-컴퓨터 상호작용", "人机交互"),
    "cs.IR": ("Information Retrieval", "정보 검색", "信息检索"),
    "cs.IT": ("Information Theory", "정보 이론", "信息论"),
    "cs.LG": ("Machine Learning", "기계 학습", "机器学习"),
    "cs.LO": ("Logic in Computer Science", "컴퓨터 과학의 논리", "计算机科学中的逻辑"),
    "cs.MA": ("Multiagent Systems", "다중 에이전트 시스템", "多智能体系统"),
    "cs.MM": ("Multimedia", "멀티미디어", "多媒体"),
    "cs.NE": ("Neural and Evolutionary Computing", "신경 및 진화 계산", "神经与演化计算"),
    "cs.NI": ("Networking and Internet Architecture", "네트워크와 인터넷 구조", "网络与互联网体系结构"),
    "cs.PF": ("Performance", "성능", "性能"),
    "cs.PL": ("Programming Languages", "프로그래밍 언어", "编程语言"),
    "cs.RO": ("Robotics", "로보틱스", "机器人学"),
    "cs.SD": ("Sound", "소리", "声音"),
    "cs.SE": ("Software Engineering", "소프트웨어 공학", "软件工程"),
    "cs.SI": ("Social and Information Networks", "소셜 및 정보 네트워크", "社会与信息网络"),
    "eess.AS": ("Audio and Speech Processing", "오디오 및 음성 처리", "音频与语音处理"),
    "eess.IV": ("Image and Video Processing", "영상 및 비디오 처리", "图像与视频处理"),
    "eess.SP": ("Signal Processing", "신호 처리", "信号处理"),
    "eess.SY": ("Systems and Control", "시스템과 제어", "系统与控制"),
    "math.NA": ("Numerical Analysis", "수치 해석", "数值分析"),
    "math.OC": ("Optimization and Control", "최적화와 제어", "优化与控制"),
    "math.PR": ("Probability", "확률론", "概率论"),
    "math.ST": ("Statistics Theory", "통계 이론", "统计理论"),
    "q-bio.NC": ("Neurons and Cognition", "뉴런과 인지", "神经元与认知"),
    "q-bio.QM": ("Quantitative Methods", "정량적 방법", "定量方法"),
    "q-fin.CP": ("Computational Finance", "계산 금융", "计算金融"),
    "stat.AP": ("Applications", "응용 통계", "应用统计"),
    "stat.CO": ("Computation", "통계 계산", "统计计算"),
    "stat.ME": ("Methodology", "통계 방법론", "统计方法论"),
    "stat.ML": ("Machine Learning (Statistics)", "기계 학습 (통계)", "机器学习（统计）"),
    "stat.TH": ("Statistics Theory", "통계 이론", "统计理论"),
}

_LANG_COLUMN = {"en": 0, "ko": 1, "zh": 2}
# What an arXiv category code looks like (cs.CL, q-bio.NC, hep-th); ACM and MSC classes are not.
CODE = re.compile(r"^[a-z][a-z\-]*(\.[A-Za-z\-]+)?$")


@dataclass(frozen=True)
class Category:
    code: str
    name: str  # in the reader's language; the code itself when we have no name for it
    paper_count: int = 0


def category_name(code: str, lang: str) -> str:
    names = NAMES.get(code)
    return names[_LANG_COLUMN.get(lang, 0)] if names else code


def is_category_code(code: str) -> bool:
    return bool(CODE.match(code or ""))
