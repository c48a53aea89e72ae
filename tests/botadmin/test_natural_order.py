from botadmin.natural_order import KEY_LENGTH, sort_key


def test_numbers_in_names_sort_by_their_value_and_text_as_text():
    names = ["测试用户10", "测试用户2", "Bob 3", "测试用户1", "alice", "测试用户11", "bob 20", ""]

    assert sorted(names, key=sort_key) == [
        "",
        "alice",
        "Bob 3",
        "bob 20",
        "测试用户1",
        "测试用户2",
        "测试用户10",
        "测试用户11",
    ]


def test_user_2_comes_before_user_10_whatever_the_length_of_the_numbers():
    names = ["用户10", "用户2", "用户100000000000000000002", "用户007", "用户99999999999999"]

    assert sorted(names, key=sort_key) == [
        "用户2",
        "用户007",
        "用户10",
        "用户99999999999999",
        "用户100000000000000000002",
    ]


def test_chinese_names_sort_by_pinyin_among_latin_ones_as_in_wecom():
    """Latin and Chinese names share one alphabet, a Chinese name spelled by its pinyin:
    as WeCom's contact list files 李四 under L between Alice and Zoe."""
    names = ["张三", "李四", "王五", "Alice", "bob", "Zoe", "Kevin", "安娜"]

    assert sorted(names, key=sort_key) == [
        "Alice",
        "安娜",  # an na
        "bob",
        "Kevin",
        "李四",  # li si
        "王五",  # wang wu
        "张三",  # zhang san
        "Zoe",
    ]


def test_names_spelled_alike_stay_together_the_latin_one_first():
    names = ["张伟", "章伟", "张伟", "Li Ming", "李明", "张伟华", "li ming"]

    assert sorted(names, key=sort_key) == [
        "Li Ming",
        "li ming",
        "李明",
        "张伟",
        "张伟",
        "章伟",
        "张伟华",
    ]


def test_pinyin_compares_syllable_by_syllable_and_a_shorter_name_first():
    names = ["先", "西安", "张三", "张", "绿", "路", "卢安"]

    # lu / lu an / lv (ü after u, as in the dictionary); xi an / xian
    assert sorted(names, key=sort_key) == ["路", "卢安", "绿", "西安", "先", "张", "张三"]


def test_spaces_punctuation_and_symbols_only_separate_words():
    names = ["总部群", "【重要】通知群", "运维群", "#销售 群", "Sales-Team", "sales team 2"]

    assert sorted(names, key=sort_key) == [
        "Sales-Team",
        "sales team 2",
        "#销售 群",  # xiao shou
        "运维群",  # yun wei
        "【重要】通知群",  # zhong yao
        "总部群",  # zong bu
    ]


def test_case_width_and_accents_do_not_change_where_a_name_goes():
    assert sorted(["Émile", "emma", "ＥＭＩＬＹ", "Emil"], key=sort_key) == [
        "Emil",
        "Émile",
        "ＥＭＩＬＹ",
        "emma",
    ]


def test_other_scripts_come_after_z_and_names_without_letters_first():
    names = ["Иван", "さくら", "Zoe", "张三", "🎉🎉", "---", "1号群"]

    assert sorted(names, key=sort_key) == ["---", "🎉🎉", "1号群", "张三", "Zoe", "Иван", "さくら"]


def test_names_the_same_but_for_how_a_number_is_written_keep_one_order():
    assert sorted(["第2组", "第02组", "第２组"], key=sort_key) == sorted(
        ["第２组", "第02组", "第2组"], key=sort_key
    )


def test_a_long_name_has_a_key_the_column_holds():
    name = "客户服务群" * 51  # 255 characters, the longest a conversation's name is

    assert len(sort_key(name)) == KEY_LENGTH
    assert sort_key(name).startswith("ke.hu.fu.wu.qun.ke.hu.fu.wu.qun.ke")


def test_a_phrase_is_read_as_pypinyins_dictionary_reads_it():
    """Not character by character, each by its first reading (长 zhang, 重 zhong, 厦 sha)."""
    names = ["中山群", "长沙销售群", "张三", "厦门客户群", "上海销售群", "重庆客户群"]

    assert sorted(names, key=sort_key) == [
        "长沙销售群",  # chang sha
        "重庆客户群",  # chong qing
        "上海销售群",  # shang hai
        "厦门客户群",  # xia men
        "张三",  # zhang san
        "中山群",  # zhong shan
    ]


def test_a_name_starting_with_a_polyphonic_surname_sorts_by_its_surname_reading():
    names = ["曾伟", "单丹", "解小东", "仇明", "区志强", "查良镛", "朴槿惠", "盖伟", "乐嘉"]
    names += ["缪杰", "翟欣", "覃琳", "阚", "薄一", "卜凡", "万俟卨", "尉迟恭"]

    assert [sort_key(name).split(" ")[0] for name in names] == [
        "zeng.wei",
        "shan.dan",
        "xie.xiao.dong",
        "qiu.ming",
        "ou.zhi.qiang",
        "zha.liang.yong",
        "piao.jin.hui",
        "ge.wei",
        "yue.jia",
        "miao.jie",
        "zhai.xin",
        "qin.lin",
        "kan",
        "bo.yi",
        "bu.fan",
        "mo.qi.xie",  # compound surnames: phrases of the dictionary
        "yu.chi.gong",
    ]


def test_a_phrase_at_the_start_of_a_groups_name_wins_over_the_surname_reading():
    """A name not known to be a person's (a group's) is as often a word: 曾经 ceng jing."""
    names = ["张三", "曾伟", "曾经", "单丹", "单位", "山", "层"]

    assert sorted(names, key=sort_key) == [
        "层",  # ceng
        "曾经",  # ceng jing
        "单位",  # dan wei
        "山",  # shan
        "单丹",  # shan dan
        "曾伟",  # zeng wei
        "张三",  # zhang san
    ]
    assert sort_key("查询群").startswith("cha.xun.qun ")
    assert sort_key("乐山客户").startswith("le.shan.ke.hu ")


def test_only_a_names_first_han_character_takes_its_surname_reading():
    assert sort_key("【曾伟】销售").startswith("zeng.wei.xiao.shou ")
    assert sort_key("小曾").startswith("xiao.ceng ")
    assert sort_key("Leo曾").startswith("leo.ceng ")
    assert sort_key("2号 曾伟").startswith("012.hao.ceng.wei ")


def test_a_persons_name_starts_with_the_surname_even_where_a_phrase_starts():
    """A user's name is a person's: its first character is the surname, and the phrase it
    would begin is not read (曾经 ceng jing, but 曾经理 Manager Zeng)."""
    names = {
        "曾经理": "zeng.jing.li",
        "曾经": "zeng.jing",
        "单位": "shan.wei",
        "单田芳": "shan.tian.fang",
        "解放": "xie.fang",
        "仇人杰": "qiu.ren.jie",
        "朴实": "piao.shi",
        "查理": "zha.li",
        "区域": "ou.yu",
        "盖子豪": "ge.zi.hao",
        "乐正绫": "yue.zheng.ling",
        "【曾经理】华东": "zeng.jing.li.hua.dong",
        "万俟卨": "mo.qi.xie",  # compound surnames: phrases, as for any name
        "尉迟恭": "yu.chi.gong",
        "长沙王": "chang.sha.wang",  # 长 is not one of SURNAMES
        "张三": "zhang.san",
    }

    assert {name: sort_key(name, person=True).split(" ")[0] for name in names} == names
    assert sort_key("曾经理", person=False).startswith("ceng.jing.li ")


def test_only_a_persons_first_han_character_is_the_surname():
    assert sort_key("小曾经理", person=True).startswith("xiao.ceng.jing.li ")
    assert sort_key("Leo曾经理", person=True).startswith("leo.ceng.jing.li ")
    assert sort_key("2号 曾经理", person=True).startswith("012.hao.ceng.jing.li ")
    assert sort_key("曾经理 曾经", person=True).startswith("zeng.jing.li.ceng.jing ")


def test_people_sort_by_their_surnames():
    names = ["曾伟", "曾经理", "层", "曾经", "张三", "解放", "谢霆锋", "单位", "山"]

    assert sorted(names, key=lambda name: sort_key(name, person=True)) == [
        "层",  # ceng
        "山",  # shan
        "单位",  # shan wei
        "解放",  # xie fang
        "谢霆锋",  # xie ting feng
        "曾经",  # zeng jing
        "曾经理",  # zeng jing li
        "曾伟",  # zeng wei
        "张三",  # zhang san
    ]
