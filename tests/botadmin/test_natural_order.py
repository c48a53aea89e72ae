from botadmin.natural_order import natural_key


def test_numbers_in_names_sort_by_their_value_and_text_as_text():
    names = ["测试用户10", "测试用户2", "Bob 3", "测试用户1", "alice", "测试用户11", "bob 20", ""]

    assert sorted(names, key=natural_key) == [
        "",
        "alice",
        "Bob 3",
        "bob 20",
        "测试用户1",
        "测试用户2",
        "测试用户10",
        "测试用户11",
    ]


def test_names_the_same_but_for_how_a_number_is_written_keep_one_order():
    assert sorted(["第2组", "第02组", "第２组"], key=natural_key) == sorted(
        ["第２组", "第02组", "第2组"], key=natural_key
    )
